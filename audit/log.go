package audit

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// Log is a file log at rest, opened for reading: to verify it, prove what it
// holds and query it. It reads the files a [File] writes and may be used while
// a File appends to them. Its methods open the files they need each time.
type Log struct {
	path string
	segs []segment
}

// OpenLog opens the log whose active file is path. It fails if neither the file
// nor any rotated segment of it exists.
func OpenLog(path string) (*Log, error) {
	segs, err := segments(path)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err != nil && len(segs) == 1 {
		return nil, fmt.Errorf("audit: open log: %w", err)
	}
	return &Log{path: path, segs: segs}, nil
}

// Segments returns the paths of the log's files in order: the rotated segments,
// then the active file.
func (l *Log) Segments() []string {
	if l == nil {
		return nil
	}
	out := make([]string, len(l.segs))
	for i, s := range l.segs {
		out[i] = s.path
	}
	return out
}

// Checkpoint returns the latest checkpoint stored beside the log, as written
// (a signed note, or plain text if the log has no signer).
func (l *Log) Checkpoint() ([]byte, error) {
	if l == nil {
		return nil, fmt.Errorf("audit: Log: %w", ErrNotReady)
	}
	b, err := os.ReadFile(l.path + ".checkpoint")
	if err != nil {
		return nil, fmt.Errorf("audit: read checkpoint: %w", err)
	}
	return b, nil
}

// line is one line of a log file.
type line struct {
	rec      []byte // without the newline; valid until the next line
	pos      Position
	complete bool // an unterminated last line is torn
}

// scan calls fn with every line of every segment in order. A missing active
// file counts as empty.
func (l *Log) scan(fn func(line) error) error {
	if l == nil {
		return fmt.Errorf("audit: Log: %w", ErrNotReady)
	}
	for _, sg := range l.segs {
		f, err := os.Open(sg.path)
		if errors.Is(err, os.ErrNotExist) && sg.path == l.path {
			continue
		}
		if err != nil {
			return err
		}
		err = scanFile(f, filepath.Base(sg.path), fn)
		f.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func scanFile(r io.Reader, name string, fn func(line) error) error {
	lr := newLineReader(r)
	for {
		rec, off, complete, err := lr.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(line{rec: rec, pos: Position{Segment: name, Offset: off}, complete: complete}); err != nil {
			return err
		}
	}
}

// Events calls fn with every event of the log in order, skipping a torn last
// line. A line that is not a JSON event fails with [ErrCorrupt].
func (l *Log) Events(fn func(Event) error) error {
	if fn == nil {
		return errors.New("audit: Log.Events: nil function")
	}
	return l.scan(func(ln line) error {
		if !ln.complete {
			return nil
		}
		var e Event
		if err := json.Unmarshal(ln.rec, &e); err != nil {
			return fmt.Errorf("%w: %s offset %d: %v", ErrCorrupt, ln.pos.Segment, ln.pos.Offset, err)
		}
		return fn(e)
	})
}

var errStop = errors.New("stop")

// Record returns the record numbered seq, as stored.
func (l *Log) Record(seq uint64) ([]byte, error) {
	var out []byte
	err := l.scan(func(ln line) error {
		if s, ok := parseSeq(ln.rec); ok && s == seq && ln.complete {
			out = append([]byte(nil), ln.rec...)
			return errStop
		}
		return nil
	})
	if out != nil {
		return out, nil
	}
	if err == nil {
		err = fmt.Errorf("audit: no record %d", seq)
	}
	return nil, err
}

// hashes opens the hashes file for reading.
func (l *Log) hashes() (*os.File, error) {
	f, err := os.Open(l.path + ".hashes")
	if err != nil {
		return nil, fmt.Errorf("audit: open hashes: %w", err)
	}
	return f, nil
}

// Prove returns the proof that record seq is in the tree of the log's latest
// checkpoint. It fails with [ErrNotCovered] if that checkpoint does not reach
// seq yet.
func (l *Log) Prove(seq uint64) (*InclusionProof, error) {
	if l == nil {
		return nil, fmt.Errorf("audit: Log: %w", ErrNotReady)
	}
	cp, err := l.Checkpoint()
	if err != nil {
		return nil, err
	}
	rec, err := l.Record(seq)
	if err != nil {
		return nil, err
	}
	f, err := l.hashes()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ProveInclusion(hashFile{f}, cp, seq, rec)
}

// ProveConsistency returns the proof that the log at the newer signed
// checkpoint extends the log at the older one. Both must be checkpoints of this
// log.
func (l *Log) ProveConsistency(older, newer []byte) (*ConsistencyProof, error) {
	if l == nil {
		return nil, fmt.Errorf("audit: Log: %w", ErrNotReady)
	}
	f, err := l.hashes()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ProveConsistency(hashFile{f}, older, newer)
}

// Verify re-derives the log's tree from its records and checks it: the
// sequence of records, their syntax, the hashes file beside the log, the log's
// own latest checkpoint and, if given, a trusted checkpoint. It returns the
// first problem as a [*VerifyError] naming the bad record.
func (l *Log) Verify(opts VerifyOptions) (*VerifyResult, error) {
	if l == nil {
		return nil, fmt.Errorf("audit: Log: %w", ErrNotReady)
	}
	c, err := NewChecker(opts)
	if err != nil {
		return nil, err
	}
	latest, signed, err := l.latest(opts)
	if err != nil {
		return nil, err
	}
	if latest != nil {
		c.Expect(*latest)
	}
	v := verifier{c: c}
	if f, err := os.Open(l.path + ".hashes"); err == nil {
		defer f.Close()
		v.stored = bufio.NewReaderSize(f, 1<<20)
	}
	if err := l.scan(v.line); err != nil {
		return nil, err
	}
	res, err := c.Result()
	if err != nil {
		return nil, err
	}
	res.Latest, res.LatestSigned, res.Torn = latest, signed, v.torn
	return res, nil
}

// latest returns the log's own latest checkpoint, its signature checked if
// opts has keys.
func (l *Log) latest(opts VerifyOptions) (*Checkpoint, bool, error) {
	b, err := os.ReadFile(l.path + ".checkpoint")
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if opts.Keys == nil {
		cp, err := UnsafeParseSignedCheckpoint(b)
		return &cp, false, err
	}
	cp, err := OpenCheckpoint(b, opts.Keys)
	if err != nil {
		return nil, false, inCheckpoint("the log's latest checkpoint", err)
	}
	return &cp, true, nil
}

// verifier feeds a log's lines to a Checker and compares the hashes it derives
// with the hashes file.
type verifier struct {
	c      *Checker
	stored *bufio.Reader // nil, or the hashes file from the start
	buf    [tlog.HashSize]byte
	torn   *Torn
}

func (v *verifier) line(ln line) error {
	if v.torn != nil {
		return &VerifyError{Index: uint64(v.c.tree.n) + 1, Segment: v.torn.Segment, Offset: v.torn.Offset,
			Err: ErrCorrupt, Detail: "unterminated line before the end of the log"}
	}
	if !ln.complete {
		v.torn = &Torn{Segment: ln.pos.Segment, Offset: ln.pos.Offset, Length: int64(len(ln.rec)), Digest: DigestBytes(ln.rec)}
		return nil
	}
	hs, err := v.c.Add(ln.rec, ln.pos)
	if err != nil || v.stored == nil {
		return err
	}
	for i, h := range hs {
		if _, err := io.ReadFull(v.stored, v.buf[:]); err != nil {
			v.stored = nil // the hashes file lags the log after a crash: nothing more to compare
			return nil
		}
		if h == tlog.Hash(v.buf) {
			continue
		}
		e := &VerifyError{Index: uint64(v.c.tree.n), Seq: uint64(v.c.tree.n), Segment: ln.pos.Segment, Offset: ln.pos.Offset,
			Err: ErrModified, Detail: "the record does not hash to the hash stored for it"}
		if i > 0 {
			e.Err, e.Detail = ErrCorrupt, "the hashes file is damaged"
		}
		return e
	}
	return nil
}

// Filter selects events. Every field set must match; the zero Filter matches
// every event. Text fields match exactly.
type Filter struct {
	Subject  string // identity.sub
	Agent    string // gen_ai.agent.id
	Model    string // gen_ai.request.model
	Tenant   string
	Tool     string // gen_ai.tool.name
	Decision string // Allow or Deny
	Rule     string // one of the event's rules
	Session  string // gen_ai.conversation.id
	Prompt   string // prompt.id
	Call     string // gen_ai.tool.call.id
	// Since and Until bound the event's time: Since <= Time < Until.
	Since, Until time.Time
}

// Match reports whether e passes the filter.
func (f *Filter) Match(e *Event) bool {
	if e == nil {
		return false
	}
	if f == nil {
		return true // no filter
	}
	id := &e.Identity
	return eq(f.Subject, id.Subject) && eq(f.Agent, id.Agent) && eq(f.Model, id.ModelName) &&
		eq(f.Tenant, id.Tenant) && eq(f.Tool, e.Tool) && eq(f.Decision, e.Decision) &&
		eq(f.Session, e.SessionID) && eq(f.Prompt, e.PromptID) && eq(f.Call, e.CallID) &&
		(f.Rule == "" || slices.Contains(e.Rules, f.Rule)) &&
		(f.Since.IsZero() || !e.Time.Before(f.Since)) &&
		(f.Until.IsZero() || e.Time.Before(f.Until))
}

func eq(want, got string) bool { return want == "" || want == got }

// Query calls fn, in log order, with every event of the log that f matches.
func (l *Log) Query(f Filter, fn func(Event) error) error {
	if fn == nil {
		return errors.New("audit: Log.Query: nil function")
	}
	return l.Events(func(e Event) error {
		if !f.Match(&e) {
			return nil
		}
		return fn(e)
	})
}
