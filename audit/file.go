package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// ErrClosed is returned by a sink's Record after Close.
var ErrClosed = errors.New("audit: sink closed")

// ErrCorrupt reports an audit log that cannot be read back as a sequence of
// records: a line that is not a JSON event, or a sequence number out of order.
var ErrCorrupt = errors.New("audit: corrupt log")

// FileOptions configure a [File] sink. The zero value is valid: records are
// written with one write system call each and not fsynced.
type FileOptions struct {
	// Sync makes every Record call fsync the file before it returns.
	Sync bool
	// Perm is the mode of a newly created file; 0 means 0o600.
	Perm os.FileMode
}

// File is a sink that appends events to a file as JSON lines, one event a line,
// numbering them from 1. Opening an existing log continues its numbering. It is safe
// for concurrent use.
type File struct {
	mu   sync.Mutex
	name string
	f    *os.File
	seq  uint64
	buf  bytes.Buffer
	opts FileOptions
}

// OpenFile opens (creating it if needed) the JSON-lines log at path for appending.
// It reads the existing records to continue their sequence and fails with
// [ErrCorrupt] if the log is damaged, so that a broken log is noticed, not extended.
func OpenFile(path string, opts FileOptions) (*File, error) {
	perm := opts.Perm
	if perm == 0 {
		perm = 0o600
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, perm)
	if err != nil {
		return nil, fmt.Errorf("audit: open log: %w", err)
	}
	last, err := lastSeq(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("audit: open log %s: %w", path, err)
	}
	return &File{name: path, f: f, seq: last, opts: opts}, nil
}

// lastSeq reads every record of r and returns the last sequence number, checking
// that they run 1, 2, 3, … without gaps.
func lastSeq(r io.Reader) (uint64, error) {
	var seq uint64
	err := ReadLog(r, func(e Event) error {
		if e.Seq != seq+1 {
			return fmt.Errorf("%w: record %d has seq %d", ErrCorrupt, seq+1, e.Seq)
		}
		seq = e.Seq
		return nil
	})
	return seq, err
}

// ReadLog decodes the JSON-lines log in r and calls fn for each event in order. It
// stops at the first error, which it returns; a line that is not a JSON event is
// reported as [ErrCorrupt] with its line number.
func ReadLog(r io.Reader, fn func(Event) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	for line := 1; sc.Scan(); line++ {
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("%w: line %d: %v", ErrCorrupt, line, err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return nil
}

// Record assigns e the next sequence number and appends it as one line. The line
// is written with a single write call; with [FileOptions.Sync] the file is fsynced
// before Record returns. ctx is not consulted: an event is never dropped because
// the caller's context ended.
func (s *File) Record(_ context.Context, e Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return ErrClosed
	}
	e.Seq = s.seq + 1
	s.buf.Reset()
	if err := json.NewEncoder(&s.buf).Encode(&e); err != nil {
		return fmt.Errorf("audit: encode event: %w", err)
	}
	if _, err := s.f.Write(s.buf.Bytes()); err != nil {
		return fmt.Errorf("audit: write log: %w", err)
	}
	if s.opts.Sync {
		if err := s.f.Sync(); err != nil {
			return fmt.Errorf("audit: sync log: %w", err)
		}
	}
	s.seq = e.Seq
	return nil
}

// Name returns the path of the log file.
func (s *File) Name() string { return s.name }

// Close syncs and closes the file. Later Record calls fail with [ErrClosed].
func (s *File) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.f == nil {
		return ErrClosed
	}
	err := errors.Join(s.f.Sync(), s.f.Close())
	s.f = nil
	return err
}
