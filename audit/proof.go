package audit

import (
	"encoding/json"
	"fmt"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Proof bundle types, the "type" of their JSON.
const (
	inclusionType   = "modelguard.audit.inclusion/v1"
	consistencyType = "modelguard.audit.consistency/v1"
)

// maxProof bounds a proof bundle read from outside: a record, a checkpoint or
// two, and at most 2·63 hashes.
const maxProof = maxRecord + 4*maxCheckpoint

// InclusionProof proves that a record is in a log: the record, its sequence
// number, the RFC 6962 audit path and the signed checkpoint it leads to. It is
// self-contained: [InclusionProof.Verify] needs only the log's public key. Its
// JSON form is what `modelguard audit prove --seq` prints.
type InclusionProof struct {
	Seq uint64 `json:"seq"`
	// Record is the record's exact bytes; a JSON string, not an embedded
	// object, so that no re-encoding or indenting can change what is hashed.
	Record     string      `json:"record"`
	Proof      []tlog.Hash `json:"proof"`
	Checkpoint string      `json:"checkpoint"`
}

// ConsistencyProof proves that a log at the New checkpoint extends the log at
// the Old one: the same records, and maybe more.
type ConsistencyProof struct {
	Old   string      `json:"old"`
	New   string      `json:"new"`
	Proof []tlog.Hash `json:"proof"`
}

// ProveInclusion returns the proof that record (numbered seq) is in the tree of
// the signed checkpoint, reading stored hashes from r. It fails with
// [ErrNotCovered] if the checkpoint does not reach seq.
func ProveInclusion(r tlog.HashReader, checkpoint []byte, seq uint64, record []byte) (*InclusionProof, error) {
	c, err := UnsafeParseSignedCheckpoint(checkpoint)
	if err != nil {
		return nil, err
	}
	if seq == 0 || seq > uint64(c.Size) {
		return nil, fmt.Errorf("%w: record %d, checkpoint size %d", ErrNotCovered, seq, c.Size)
	}
	p, err := tlog.ProveRecord(c.Size, int64(seq-1), r)
	if err != nil {
		return nil, fmt.Errorf("audit: prove record %d: %w", seq, err)
	}
	// Never hand out a proof that does not verify: the stored hashes may be
	// damaged, or the record not the one the tree holds.
	if err := tlog.CheckRecord(p, c.Size, c.Hash, int64(seq-1), tlog.RecordHash(record)); err != nil {
		return nil, &VerifyError{Index: seq, Seq: seq, Err: ErrModified, Detail: "the record is not the one the checkpoint's tree holds"}
	}
	return &InclusionProof{Seq: seq, Record: string(record), Proof: p, Checkpoint: string(checkpoint)}, nil
}

// ProveConsistency returns the proof that the tree of the signed checkpoint
// newer extends that of older, reading stored hashes from r. It checks first that
// both checkpoints' roots are the roots r's tree has at their sizes, so that it
// never vouches for a foreign checkpoint.
func ProveConsistency(r tlog.HashReader, older, newer []byte) (*ConsistencyProof, error) {
	o, err := UnsafeParseSignedCheckpoint(older)
	if err != nil {
		return nil, err
	}
	n, err := UnsafeParseSignedCheckpoint(newer)
	if err != nil {
		return nil, err
	}
	if o.Size > n.Size {
		return nil, fmt.Errorf("audit: old checkpoint (size %d) is larger than new (size %d)", o.Size, n.Size)
	}
	for _, c := range []Checkpoint{o, n} {
		h, err := tlog.TreeHash(c.Size, r)
		if err != nil {
			return nil, fmt.Errorf("%w: size %d: %v", ErrNotCovered, c.Size, err)
		}
		if h != c.Hash {
			return nil, &VerifyError{Err: ErrFork, Detail: fmt.Sprintf("the log's root at size %d is not the checkpoint's", c.Size)}
		}
	}
	p, err := tlog.ProveTree(n.Size, o.Size, r)
	if err != nil {
		return nil, fmt.Errorf("audit: prove consistency: %w", err)
	}
	return &ConsistencyProof{Old: string(older), New: string(newer), Proof: p}, nil
}

// Verify checks the proof with the known keys and returns the checkpoint and the
// event the proof covers. It fails with [ErrBadSignature] if the checkpoint is not
// signed by a known key, [ErrBadProof] if the record is not in its tree.
func (p *InclusionProof) Verify(known note.Verifiers) (Checkpoint, Event, error) {
	if p == nil {
		return Checkpoint{}, Event{}, fmt.Errorf("%w: no proof", ErrBadProof)
	}
	c, err := OpenCheckpoint([]byte(p.Checkpoint), known)
	if err != nil {
		return Checkpoint{}, Event{}, err
	}
	if p.Seq == 0 || p.Seq > uint64(c.Size) {
		return Checkpoint{}, Event{}, fmt.Errorf("%w: record %d is outside a tree of size %d", ErrBadProof, p.Seq, c.Size)
	}
	rec := []byte(p.Record)
	if seq, ok := parseSeq(rec); !ok || seq != p.Seq {
		return Checkpoint{}, Event{}, fmt.Errorf("%w: record does not carry seq %d", ErrBadProof, p.Seq)
	}
	if err := tlog.CheckRecord(p.Proof, c.Size, c.Hash, int64(p.Seq-1), tlog.RecordHash(rec)); err != nil {
		return Checkpoint{}, Event{}, fmt.Errorf("%w: %v", ErrBadProof, err)
	}
	var e Event
	if err := json.Unmarshal(rec, &e); err != nil {
		return Checkpoint{}, Event{}, fmt.Errorf("%w: record: %v", ErrBadProof, err)
	}
	return c, e, nil
}

// Verify checks both checkpoints' signatures with the known keys and the proof
// that the newer extends the older, and returns the two checkpoints.
func (p *ConsistencyProof) Verify(known note.Verifiers) (older, newer Checkpoint, err error) {
	if p == nil {
		return Checkpoint{}, Checkpoint{}, fmt.Errorf("%w: no proof", ErrBadProof)
	}
	if older, err = OpenCheckpoint([]byte(p.Old), known); err != nil {
		return Checkpoint{}, Checkpoint{}, err
	}
	if newer, err = OpenCheckpoint([]byte(p.New), known); err != nil {
		return Checkpoint{}, Checkpoint{}, err
	}
	if older.Origin != newer.Origin {
		return Checkpoint{}, Checkpoint{}, fmt.Errorf("%w: checkpoints of two logs (%q, %q)", ErrBadProof, older.Origin, newer.Origin)
	}
	if older.Size > newer.Size {
		return Checkpoint{}, Checkpoint{}, fmt.Errorf("%w: old size %d > new size %d", ErrBadProof, older.Size, newer.Size)
	}
	if err := tlog.CheckTree(p.Proof, newer.Size, newer.Hash, older.Size, older.Hash); err != nil {
		return Checkpoint{}, Checkpoint{}, fmt.Errorf("%w: %v", ErrBadProof, err)
	}
	return older, newer, nil
}

// MarshalJSON adds the bundle type.
func (p *InclusionProof) MarshalJSON() ([]byte, error) {
	type plain InclusionProof
	return json.Marshal(struct {
		Type string `json:"type"`
		*plain
	}{inclusionType, (*plain)(p)})
}

// MarshalJSON adds the bundle type.
func (p *ConsistencyProof) MarshalJSON() ([]byte, error) {
	type plain ConsistencyProof
	return json.Marshal(struct {
		Type string `json:"type"`
		*plain
	}{consistencyType, (*plain)(p)})
}

// ParseProof parses a proof bundle printed by `modelguard audit prove` and
// returns an [*InclusionProof] or a [*ConsistencyProof]. It checks the shape
// only; call Verify.
func ParseProof(b []byte) (any, error) {
	if len(b) > maxProof {
		return nil, fmt.Errorf("%w: proof too long", ErrBadProof)
	}
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(b, &head); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadProof, err)
	}
	var v any
	switch head.Type {
	case inclusionType:
		v = new(InclusionProof)
	case consistencyType:
		v = new(ConsistencyProof)
	default:
		return nil, fmt.Errorf("%w: unknown proof type %q", ErrBadProof, head.Type)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadProof, err)
	}
	return v, nil
}
