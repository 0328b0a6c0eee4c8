package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// VerifyOptions say what to check a log against. The zero value checks the log
// against itself only: record sequence, record syntax and, for a file log, its
// hashes file and its own latest checkpoint (without its signature).
type VerifyOptions struct {
	// Checkpoint is a trusted signed checkpoint, such as one shipped elsewhere
	// when it was written: the log must extend it. It needs Keys.
	Checkpoint []byte
	// Keys verify the trusted checkpoint's signature and the signature of the
	// log's own latest checkpoint.
	Keys note.Verifiers
}

// VerifyResult is what verifying a log established.
type VerifyResult struct {
	Records uint64    // how many records the log has
	Root    tlog.Hash // the root of their tree
	// Trusted is the trusted checkpoint the log was found to extend.
	Trusted *Checkpoint
	// Latest is the log's own latest checkpoint, which the log extends;
	// LatestSigned says its signature was verified with Keys.
	Latest       *Checkpoint
	LatestSigned bool
	// Torn describes an unterminated last line, left by a crash the log has not
	// been reopened since (opening cuts it). It is not counted in Records.
	Torn *Torn
}

// Position locates a record in a file log.
type Position struct {
	Segment string
	Offset  int64
}

// lookahead is how many records a Checker reads past a gap in the sequence to
// tell a deletion from a reordering or an insertion.
const lookahead = 1024

// recent is how many leaf hashes a Checker remembers to tell a duplicated
// record from a forged one.
const recent = 4096

// Checker re-derives a log's Merkle tree from its records, given in order, and
// checks the sequence numbers, the syntax of each record and the roots the
// expected checkpoints state. It is the storage-independent core of [Log.Verify]
// and of the PostgreSQL sink's verification. A Checker is not safe for
// concurrent use.
type Checker struct {
	tree    tree
	stored  []tlog.Hash
	leaves  []tlog.Hash // ring of the last recent leaf hashes
	expect  []Checkpoint
	gap     *gap
	err     error
	trusted *Checkpoint
}

// NewChecker returns a Checker for opts. It fails with a [*VerifyError]
// matching [ErrBadSignature] if the trusted checkpoint is not signed by Keys.
func NewChecker(opts VerifyOptions) (*Checker, error) {
	c := &Checker{leaves: make([]tlog.Hash, recent)}
	if opts.Checkpoint == nil {
		return c, nil
	}
	if opts.Keys == nil {
		return nil, &VerifyError{Err: ErrBadSignature, Detail: "a trusted checkpoint needs a key to check it with"}
	}
	cp, err := OpenCheckpoint(opts.Checkpoint, opts.Keys)
	if err != nil {
		return nil, inCheckpoint("trusted checkpoint", err)
	}
	c.trusted = &cp
	c.Expect(cp)
	return c, nil
}

// Expect adds a checkpoint the log must extend.
func (c *Checker) Expect(cp Checkpoint) {
	if c == nil {
		return
	}
	c.expect = append(c.expect, cp)
	sort.SliceStable(c.expect, func(i, j int) bool { return c.expect[i].Size < c.expect[j].Size })
}

// Add checks the next record and adds it to the tree. It returns the hashes
// tlog stores for it (valid until the next call), for comparison with stored
// ones, or nil while it reads ahead past a gap. After an error, every call
// returns that error.
func (c *Checker) Add(rec []byte, pos Position) ([]tlog.Hash, error) {
	if c == nil {
		return nil, fmt.Errorf("audit: Checker: %w", ErrNotReady)
	}
	if c.err != nil {
		return nil, c.err
	}
	idx := uint64(c.tree.n) + 1
	seq, ok := parseSeq(rec)
	if c.gap != nil {
		c.err = c.gap.next(seq, tlog.RecordHash(rec))
		return nil, c.err
	}
	if !ok || !json.Valid(rec) {
		c.err = &VerifyError{Index: idx, Seq: seq, Segment: pos.Segment, Offset: pos.Offset, Err: ErrCorrupt,
			Detail: "not a canonical JSON record"}
		return nil, c.err
	}
	leaf := tlog.RecordHash(rec)
	if seq != idx {
		c.err = c.sequence(idx, seq, leaf, pos)
		return nil, c.err
	}
	if c.err = c.reached(); c.err != nil {
		return nil, c.err
	}
	c.leaves[c.tree.n%recent] = leaf
	c.stored = c.tree.add(leaf, c.stored[:0])
	return c.stored, nil
}

// reached checks the roots of the checkpoints the tree has reached. It runs
// one record late, so that a caller comparing stored hashes names a modified
// record before its checkpoint's root tells only that something changed.
func (c *Checker) reached() error {
	for len(c.expect) > 0 && c.expect[0].Size <= c.tree.n {
		cp := c.expect[0]
		if cp.Size == c.tree.n && cp.Hash != c.tree.root() {
			return &VerifyError{Err: ErrFork, Detail: fmt.Sprintf(
				"the first %d records have root %v, the checkpoint of %s says %v", cp.Size, c.tree.root(), cp.Origin, cp.Hash)}
		}
		c.expect = c.expect[1:]
	}
	return nil
}

// Result ends the check and returns what it established, or the first problem.
func (c *Checker) Result() (*VerifyResult, error) {
	if c == nil {
		return nil, fmt.Errorf("audit: Checker: %w", ErrNotReady)
	}
	if c.err == nil && c.gap != nil {
		c.err = c.gap.decide()
	}
	if c.err == nil {
		c.err = c.reached()
	}
	if c.err != nil {
		return nil, c.err
	}
	if len(c.expect) > 0 {
		cp := c.expect[0]
		c.err = &VerifyError{Index: uint64(c.tree.n) + 1, Err: ErrTruncated,
			Detail: fmt.Sprintf("the log has %d records, the checkpoint of %s %d", c.tree.n, cp.Origin, cp.Size)}
		return nil, c.err
	}
	return &VerifyResult{Records: uint64(c.tree.n), Root: c.tree.root(), Trusted: c.trusted}, nil
}

// sequence classifies a record at position idx that carries seq.
func (c *Checker) sequence(idx, seq uint64, leaf tlog.Hash, pos Position) error {
	e := &VerifyError{Index: idx, Seq: seq, Segment: pos.Segment, Offset: pos.Offset}
	if seq > idx {
		c.gap = &gap{err: e, leaf: leaf}
		return nil
	}
	e.Err = ErrInserted
	e.Detail = fmt.Sprintf("it carries seq %d, which an earlier record has, with other content", seq)
	if seq > 0 && idx-seq <= recent && c.leaves[(seq-1)%recent] == leaf {
		e.Err, e.Detail = ErrDuplicate, fmt.Sprintf("it repeats record %d", seq)
	}
	return e
}

// gap is a record whose seq is ahead of its position: records were deleted,
// moved later, or a record was inserted with a later seq. Reading ahead tells
// which.
type gap struct {
	err       *VerifyError
	leaf      tlog.Hash
	seen      int
	foundWant bool // the seq the position wanted shows up later
	again     int  // 0, or 1 if the gap's seq shows up again with other content, 2 with the same
}

func (g *gap) next(seq uint64, leaf tlog.Hash) error {
	g.seen++
	switch seq {
	case g.err.Index:
		g.foundWant = true
	case g.err.Seq:
		g.again = 1
		if leaf == g.leaf {
			g.again = 2
		}
		return g.decide()
	}
	if g.seen >= lookahead {
		return g.decide()
	}
	return nil
}

func (g *gap) decide() error {
	e := g.err
	switch {
	case g.again == 2:
		e.Err, e.Detail = ErrDuplicate, fmt.Sprintf("it is a copy of record %d, which comes later", e.Seq)
	case g.again == 1:
		e.Err, e.Detail = ErrInserted, fmt.Sprintf("it carries seq %d, which a later record has, with other content", e.Seq)
	case g.foundWant:
		e.Err, e.Detail = ErrReordered, fmt.Sprintf("it carries seq %d; record %d comes later", e.Seq, e.Index)
	case e.Seq == e.Index+1:
		e.Err, e.Detail = ErrMissing, fmt.Sprintf("found seq %d: record %d is missing", e.Seq, e.Index)
	default:
		e.Err, e.Detail = ErrMissing, fmt.Sprintf("found seq %d: records %d to %d are missing", e.Seq, e.Index, e.Seq-1)
	}
	return e
}

// inCheckpoint says which checkpoint a checkpoint error is about.
func inCheckpoint(which string, err error) error {
	var ve *VerifyError
	if errors.As(err, &ve) {
		return &VerifyError{Err: ve.Err, Detail: which + ": " + ve.Detail}
	}
	return fmt.Errorf("%s: %w", which, err)
}
