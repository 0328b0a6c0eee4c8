package console

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/modelguard/modelguard/audit"
)

// prover proves the records of one page against the log's latest checkpoint,
// read once for the page. Its fast path needs no scan of the log: the record's
// canonical bytes ([audit.MarshalRecord] of the event read, which are the
// bytes the log stores) and the stored hashes beside the log (PATH.hashes,
// RFC 6962 stored hashes, see [tlog.StoredHashIndex]) give the proof
// ([audit.ProveInclusion]). When that fails — a record whose stored bytes
// are not its canonical encoding, or one changed on disk — it falls back to
// [audit.Log.Prove], which reads the record's stored bytes; a record neither
// proves stays unverified.
type prover struct {
	log    *audit.Log
	keys   note.Verifiers
	cp     []byte
	cpErr  error
	hashes *os.File
}

// slowProofs turns the fast path off (benchmarks compare the two).
var slowProofs bool

func (h *Handler) prover(l *audit.Log) *prover {
	p := &prover{log: l, keys: h.cfg.LogKeys}
	p.cp, p.cpErr = l.Checkpoint()
	if segs := l.Segments(); len(segs) > 0 && !slowProofs {
		p.hashes, _ = os.Open(segs[len(segs)-1] + ".hashes") // without it, only the slow path
	}
	return p
}

func (p *prover) close() {
	if p.hashes != nil {
		p.hashes.Close()
	}
}

// ReadHashes implements [tlog.HashReader] over the stored hashes file.
func (p *prover) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if _, err := p.hashes.ReadAt(out[i][:], x*tlog.HashSize); err != nil {
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("hashes file has no hash %d", x)
			}
			return nil, err
		}
	}
	return out, nil
}

// inclusion returns the proof of e: by the fast path if it proves, else read
// from the log.
func (p *prover) inclusion(e audit.Event) (*audit.InclusionProof, error) {
	if p.cpErr != nil {
		return nil, p.cpErr
	}
	if p.hashes != nil {
		if rec, err := audit.MarshalRecord(e, e.Seq); err == nil {
			if ip, err := audit.ProveInclusion(p, p.cp, e.Seq, rec); err == nil {
				return ip, nil
			} else if errors.Is(err, audit.ErrNotCovered) {
				return nil, err
			}
		}
	}
	return p.log.Prove(e.Seq)
}

// prove checks, on the server, that e is in the tree of the log's latest
// checkpoint and that a known key signed that checkpoint. A proven record is
// shown as the proof holds it; any failure leaves it unverified, saying why.
func (p *prover) prove(e audit.Event) record {
	if e.Seq == 0 {
		return record{Event: e, Proof: "unverified: the record has no sequence number"}
	}
	if p.keys == nil {
		return record{Event: e, Proof: "unverified: the console has no key for the log's checkpoints"}
	}
	ip, err := p.inclusion(e)
	if err != nil {
		if errors.Is(err, audit.ErrNotCovered) {
			return record{Event: e, Proof: "unverified: not yet in a checkpoint"}
		}
		return record{Event: e, Proof: "unverified: " + err.Error()}
	}
	c, proven, err := ip.Verify(p.keys)
	switch {
	case err != nil:
		return record{Event: e, Proof: "unverified: " + err.Error()}
	case proven.ID != e.ID || proven.Seq != e.Seq:
		return record{Event: e, Proof: "unverified: the proven record is not the one read"}
	}
	return record{Event: proven, Verified: true,
		Proof: fmt.Sprintf("verified: in the tree of size %d signed by %s", c.Size, c.Origin)}
}
