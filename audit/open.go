package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/mod/sumdb/tlog"
)

// OpenFile opens the log at path, creating it if needed, and continues it.
//
// Opening does not re-hash the log: it trusts the hashes file up to the latest
// checkpoint, after checking that the checkpoint's root is the root of those
// hashes, and re-hashes only the records written after it. A torn last line,
// left by a crash in the middle of a write, is cut off and a [PhaseRecovery]
// record that describes it is appended (see [FileStats].Torn). A log that is
// damaged otherwise, or that does not extend its own latest checkpoint, is not
// opened: it fails with [ErrCorrupt], [ErrTruncated] or [ErrFork], so that a
// broken log is noticed, not extended.
func OpenFile(path string, opts FileOptions) (*File, error) {
	opts.defaults()
	fs, err := openFiles(path, opts.Perm)
	if err != nil {
		return nil, err
	}
	st, torn, err := restore(fs, opts)
	if err != nil {
		fs.close()
		return nil, fmt.Errorf("audit: open log %s: %w", path, err)
	}
	s := &File{opts: opts, path: path, origin: unsignedOrigin, st: st, done: make(chan struct{})}
	s.st.flushed = sync.NewCond(&s.mu)
	if opts.Signer != nil {
		s.origin = opts.Signer.Name()
	}
	if torn != nil {
		if err := s.recordTorn(*torn); err != nil {
			fs.close()
			return nil, err
		}
	}
	s.wg.Add(1)
	go s.loop(opts.FlushInterval)
	return s, nil
}

// recordTorn appends and checkpoints the record of a cut torn line.
func (s *File) recordTorn(t Torn) error {
	s.st.stats.Torn = append(s.st.stats.Torn, t)
	e := Event{ID: fmt.Sprintf("recovery.%d", s.st.seq+1), Time: s.opts.Now().UTC(), Phase: PhaseRecovery,
		Torn: &t, ErrorType: "torn_record",
		Error: fmt.Sprintf("torn record cut on open: %d bytes at offset %d", t.Length, t.Offset)}
	bp, err := encodeBody(&e)
	if err == nil {
		_, err = s.add(*bp)
		freeBody(bp)
	}
	if err == nil {
		_, err = s.Checkpoint()
	}
	return err
}

// restore reads back the state of the log in fs, repairing what a crash can
// leave: a torn last line, and a hashes file that lags or leads the log.
func restore(fs *logFiles, opts FileOptions) (fileState, *Torn, error) {
	var st fileState
	st.files = fs
	size, torn, err := cutTear(fs.log, fs.path)
	if err != nil {
		return st, nil, err
	}
	segs, err := segments(fs.path)
	if err != nil {
		return st, nil, err
	}
	last, first, err := bounds(fs.log, size, segs)
	if err != nil {
		return st, nil, err
	}
	if err := st.loadCheckpoint(fs.path, last); err != nil {
		return st, nil, err
	}
	t, err := rebuild(fs, &st, size, segs, last)
	if err != nil {
		return st, nil, err
	}
	st.tree, st.seq = t, last
	st.written, st.durable = last, last
	st.logOff, st.hashOff = size, tlog.StoredHashCount(t.n)*tlog.HashSize
	st.segFirst, st.segStart = first, opts.Now()
	st.stats.Written, st.stats.Durable = last, last
	return st, torn, nil
}

// loadCheckpoint reads the log's latest checkpoint, if any. It does not check
// its signature: the log is the writer's own; it checks that it does not
// claim more records than the log has.
func (st *fileState) loadCheckpoint(path string, last uint64) error {
	b, err := os.ReadFile(path + ".checkpoint")
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.cp, err = UnsafeParseSignedCheckpoint(b); err != nil {
		return err
	}
	if uint64(st.cp.Size) > last {
		return &VerifyError{Index: last + 1, Err: ErrTruncated,
			Detail: fmt.Sprintf("the log has %d records, its checkpoint %d", last, st.cp.Size)}
	}
	st.cpSigned, st.hasCP = b, true
	return nil
}

// rebuild returns the tree of the log's last records, re-hashing those the
// hashes file does not reliably hold: the ones after the latest checkpoint, or
// all of them if the hashes file does not match that checkpoint.
func rebuild(fs *logFiles, st *fileState, size int64, segs []segment, last uint64) (tree, error) {
	hf := hashFile{fs.hashes}
	fi, err := fs.hashes.Stat()
	if err != nil {
		return tree{}, err
	}
	base := int64(0)
	if st.hasCP && recordsIn(fi.Size()) >= st.cp.Size && extends(st.cp, st.cp.Size, hf) == nil {
		base = st.cp.Size
	}
	if err := fs.hashes.Truncate(tlog.StoredHashCount(base) * tlog.HashSize); err != nil {
		return tree{}, err
	}
	t, err := loadTree(base, hf)
	if err != nil || uint64(base) == last {
		return t, err
	}
	rh := rehasher{t: t, w: fs.hashes, cp: st.cp, hasCP: st.hasCP}
	var recs [][]byte
	ok := false
	if base > 0 {
		if recs, ok, err = tailRecords(fs.log, size, uint64(base)); err != nil {
			return tree{}, err
		}
	}
	if ok {
		t, err = rh.all(recs)
	} else {
		t, err = rh.scan(fs, size, segs)
	}
	if err == nil && uint64(t.n) != last {
		err = fmt.Errorf("%w: %d records end with seq %d; run audit verify", ErrCorrupt, t.n, last)
	}
	return t, err
}

// rehasher adds records to a tree and writes their stored hashes.
type rehasher struct {
	t     tree
	w     io.Writer
	buf   []byte
	cp    Checkpoint
	hasCP bool
}

func (rh *rehasher) add(rec []byte) error {
	if seq, ok := parseSeq(rec); !ok || seq != uint64(rh.t.n)+1 {
		return fmt.Errorf("%w: record %d is damaged or out of order; run audit verify", ErrCorrupt, rh.t.n+1)
	}
	rh.buf = appendHashes(rh.buf, rh.t.add(tlog.RecordHash(rec), nil))
	if rh.hasCP && rh.t.n == rh.cp.Size && rh.t.root() != rh.cp.Hash {
		return &VerifyError{Err: ErrFork, Detail: fmt.Sprintf("the root of the first %d records is not the checkpoint's", rh.cp.Size)}
	}
	if len(rh.buf) >= 1<<20 {
		return rh.flush()
	}
	return nil
}

func (rh *rehasher) flush() error {
	_, err := rh.w.Write(rh.buf)
	rh.buf = rh.buf[:0]
	return err
}

func (rh *rehasher) all(recs [][]byte) (tree, error) {
	for _, r := range recs {
		if err := rh.add(r); err != nil {
			return tree{}, err
		}
	}
	return rh.t, rh.flush()
}

// scan re-hashes the records after the tree's from every segment in order.
func (rh *rehasher) scan(fs *logFiles, size int64, segs []segment) (tree, error) {
	skip := rh.t.n
	for _, sg := range segs {
		err := readSegment(sg.path, fs, size, func(rec []byte, _ int64) error {
			if skip > 0 {
				skip--
				return nil
			}
			return rh.add(rec)
		})
		if err != nil {
			return tree{}, err
		}
	}
	return rh.t, rh.flush()
}

// readSegment calls fn with each complete record of a segment; the active one
// is read from fs up to size.
func readSegment(path string, fs *logFiles, size int64, fn func(rec []byte, off int64) error) error {
	var r io.Reader
	if path == fs.path {
		r = io.NewSectionReader(fs.log, 0, size)
	} else {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	lr := newLineReader(r)
	for {
		rec, off, complete, err := lr.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if !complete {
			return fmt.Errorf("%w: %s: unterminated line at offset %d", ErrCorrupt, filepath.Base(path), off)
		}
		if err := fn(rec, off); err != nil {
			return err
		}
	}
}

// cutTear cuts an unterminated last line off the log and describes it. It
// returns the log's size after the cut.
func cutTear(f file, path string) (int64, *Torn, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, nil, err
	}
	size := fi.Size()
	cut, err := lastNewline(f, size)
	if err != nil || cut == size {
		return size, nil, err
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, cut, size-cut)); err != nil {
		return 0, nil, err
	}
	if err := f.Truncate(cut); err != nil {
		return 0, nil, fmt.Errorf("audit: cut torn record: %w", err)
	}
	if err := f.Sync(); err != nil {
		return 0, nil, err
	}
	t := &Torn{Segment: filepath.Base(path), Offset: cut, Length: size - cut,
		Digest: DigestPrefix + hex.EncodeToString(h.Sum(nil))}
	return cut, t, nil
}

// lastNewline returns the offset just after the last newline in the first size
// bytes of r, or 0.
func lastNewline(r io.ReaderAt, size int64) (int64, error) {
	buf := make([]byte, 64<<10)
	for end := size; end > 0; {
		start := max(0, end-int64(len(buf)))
		b := buf[:end-start]
		if _, err := r.ReadAt(b, start); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return 0, nil
}
