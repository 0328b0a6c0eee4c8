package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// Durability says when [File.Record] returns relative to the record reaching
// stable storage.
type Durability uint8

// Durability modes, safest first. The zero value is GroupCommit.
const (
	// GroupCommit: Record returns once an fsync that covers its record is done.
	// Concurrent callers share fsyncs: while one is in progress the records of
	// the others gather and the next fsync covers them all.
	GroupCommit Durability = iota
	// SyncEach: every record is written and fsynced on its own, one at a time.
	SyncEach
	// Buffered: Record returns once the record is in the log's buffer, which is
	// written when full, every FlushInterval, at each checkpoint and on Close.
	// A crash loses what was not yet written; nothing is lost otherwise: a
	// failed write keeps its records and writes them again on recovery.
	Buffered
)

func (d Durability) String() string {
	switch d {
	case GroupCommit:
		return "group-commit"
	case SyncEach:
		return "sync-each"
	case Buffered:
		return "buffered"
	}
	return "Durability(?)"
}

// FileOptions configure a [File]. The zero value is valid: group commit,
// unsigned checkpoints every 10,000 records or 10 seconds, no rotation.
type FileOptions struct {
	Durability Durability
	// Perm is the mode of newly created files; 0 means 0o600.
	Perm os.FileMode

	// BufferSize is the size at which a Buffered log writes its buffer; 0 means
	// 256 KiB. FlushInterval bounds how long a record stays buffered; 0 means
	// 100ms.
	BufferSize    int
	FlushInterval time.Duration

	// Signer signs checkpoints (use note.NewSigner with a key from
	// note.GenerateKey); its name is the log's origin. Without one,
	// checkpoints are written unsigned, under the origin "local", and serve
	// only to bound the work of reopening the log.
	Signer note.Signer
	// A checkpoint is written after CheckpointEvery records (0 means 10,000),
	// CheckpointInterval after the first record it will cover (0 means 10s),
	// before each rotation and on Close. Each is first synced, then written
	// beside the log, then handed to OnCheckpoint, if set, to ship elsewhere;
	// OnCheckpoint runs with the log's writer held, so it should be quick.
	CheckpointEvery    int64
	CheckpointInterval time.Duration
	OnCheckpoint       func(signed []byte) error

	// MaxSegmentSize and MaxSegmentAge rotate the active file to a numbered
	// segment when it reaches that size or age; 0 means never. All segments
	// belong to one tree.
	MaxSegmentSize int64
	MaxSegmentAge  time.Duration

	// RetryInterval is how long a failed log waits before the next Record tries
	// to recover it; 0 means one second. Until it recovers, Record fails with
	// [ErrUnavailable].
	RetryInterval time.Duration
	// OnError, if set, is told of every write, sync and checkpoint failure.
	OnError func(error)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (o *FileOptions) defaults() {
	if o.Perm == 0 {
		o.Perm = 0o600
	}
	if o.BufferSize <= 0 {
		o.BufferSize = 256 << 10
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = 100 * time.Millisecond
	}
	if o.CheckpointEvery <= 0 {
		o.CheckpointEvery = 10_000
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = 10 * time.Second
	}
	if o.RetryInterval <= 0 {
		o.RetryInterval = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// FileStats are a [File]'s counters.
type FileStats struct {
	Seq              uint64 // the last sequence number assigned
	Written          uint64 // the last record handed to the operating system
	Durable          uint64 // the last record known to be on stable storage
	Flushes          uint64
	Syncs            uint64
	Checkpoints      uint64
	Rotations        uint64
	WriteErrors      uint64 // failed writes, syncs and checkpoint writes
	CheckpointErrors uint64 // failures of OnCheckpoint
	// Err is the failure the log is in, or nil when it is healthy.
	Err error
	// Torn lists what was cut from the end of the log when it was opened.
	Torn []Torn
}

// File is a tamper-evident log: a sink that appends events as canonical JSON
// lines, numbered from 1, to a file and its rotated segments, keeps the RFC 6962
// Merkle tree of those lines in a hashes file beside it, and writes signed
// checkpoints of the tree. Opening an existing log continues it. A File is safe
// for concurrent use.
//
// Beside the active file PATH live PATH.hashes (the tree's stored hashes),
// PATH.checkpoint (the latest checkpoint) and, with rotation, segments named
// like PATH with the first sequence number they hold before the extension.
type File struct {
	opts   FileOptions
	origin string
	path   string

	wmu sync.Mutex // held while writing, syncing, checkpointing or rotating
	mu  sync.Mutex // guards the fields below
	st  fileState
	// closed is set once by Close.
	closed bool
	done   chan struct{}
	wg     sync.WaitGroup
}

// Name returns the path of the active log file.
func (s *File) Name() string {
	if s.opened() != nil {
		return ""
	}
	return s.path
}

// opened reports whether s was built by [OpenFile]: a zero or nil File is an
// error, never a panic.
func (s *File) opened() error {
	if s == nil || s.done == nil {
		return fmt.Errorf("audit: File: %w", ErrNotReady)
	}
	return nil
}

// Record encodes e, numbers it with the next sequence number, adds it to the
// tree and appends it as one line, returning as [FileOptions.Durability] says.
// ctx is not consulted: an event is never dropped because the caller's context
// ended. An error means the event is not in the log.
func (s *File) Record(_ context.Context, e Event) error {
	if err := s.opened(); err != nil {
		return err
	}
	bp, err := encodeBody(&e)
	if err != nil {
		return err
	}
	defer freeBody(bp)
	body := *bp
	if err := s.ready(); err != nil {
		return err
	}
	switch s.opts.Durability {
	case SyncEach:
		s.wmu.Lock()
		defer s.wmu.Unlock()
		if _, err := s.add(body); err != nil {
			return err
		}
		return s.flushLocked(true)
	case Buffered:
		t, err := s.add(body)
		if err != nil || !t.full {
			return err
		}
		s.flushFull()
		return nil
	default:
		t, err := s.add(body)
		if err != nil {
			return err
		}
		return s.commit(t)
	}
}

// Flush writes buffered records and, unless the log is Buffered, syncs them.
func (s *File) Flush() error {
	if err := s.opened(); err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.flushLocked(s.opts.Durability != Buffered)
}

// Checkpoint syncs every record recorded so far, signs a checkpoint of the tree
// and stores it beside the log, and returns it.
func (s *File) Checkpoint() ([]byte, error) {
	if err := s.opened(); err != nil {
		return nil, err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.flushLocked(true); err != nil {
		return nil, err
	}
	return s.checkpointLocked()
}

// Stats returns the log's counters.
func (s *File) Stats() FileStats {
	if err := s.opened(); err != nil {
		return FileStats{Err: err}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st.stats
	st.Seq, st.Err = s.st.seq, s.st.failure
	st.Torn = append([]Torn(nil), st.Torn...)
	return st
}

// Close stops the background flusher, writes and syncs every record, writes a
// last checkpoint and closes the files. Later Record calls fail with
// [ErrClosed].
func (s *File) Close() error {
	if err := s.opened(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	s.mu.Unlock()
	close(s.done)
	s.wg.Wait()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	err := s.recoverLocked()
	if err == nil {
		err = s.flushLocked(true)
	}
	if err == nil {
		_, err = s.checkpointLocked()
	}
	if err != nil && s.opts.Durability == Buffered {
		s.mu.Lock()
		if n := bytes.Count(s.st.cur.log, []byte{'\n'}); n > 0 {
			err = fmt.Errorf("audit: %d buffered records lost: %w", n, err)
		}
		s.mu.Unlock()
	}
	return errors.Join(err, s.st.files.close())
}
