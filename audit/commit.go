package audit

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// fileState is a [File]'s mutable state, guarded by File.mu. The files
// themselves are written only with File.wmu held.
type fileState struct {
	files *logFiles
	seq   uint64 // the last sequence number assigned
	cur   batch  // numbered, not yet written
	spare batch  // cur's recycled buffers

	// tree holds the records written so far; the writer (File.wmu) owns it
	// and hashes each batch as it writes it, so callers only copy bytes
	// under File.mu.
	tree    tree
	stored  []tlog.Hash
	hashBuf []byte

	// epoch changes when records that callers wait for are rolled back after a
	// failed flush; a waiter from an older epoch learns its record is gone.
	epoch uint64
	// kept[e] is the last record that survived the rollback that ended epoch
	// e; lastFailure is what caused the latest rollback.
	kept             []uint64
	lastFailure      error
	written, durable uint64
	// logOff and hashOff are the sizes of the active file and the hashes file
	// after the last good flush: where a failed log is cut back to.
	logOff, hashOff int64
	segFirst        uint64 // the seq the active file starts with
	segStart        time.Time

	failure  error
	failedAt time.Time

	// flushing is set while a group-commit leader flushes; flushed (on
	// File.mu) wakes the callers waiting for it.
	flushing bool
	flushed  *sync.Cond

	cp       Checkpoint // the latest checkpoint written, if hasCP
	cpSigned []byte
	hasCP    bool
	cpDue    time.Time // when records not covered by cp must be checkpointed

	stats FileStats
}

// batch is records ready to be appended, one a line.
type batch struct {
	log []byte
}

func (b *batch) reset() { b.log = b.log[:0] }

// ticket is a caller's claim on its record.
type ticket struct {
	seq   uint64
	epoch uint64
	full  bool // the buffer reached BufferSize
}

// ready fails while the log is failed, first trying to recover it once the
// retry interval has passed.
func (s *File) ready() error {
	s.mu.Lock()
	failed := s.st.failure != nil
	due := failed && s.opts.Now().Sub(s.st.failedAt) >= s.opts.RetryInterval
	err := s.unavailableLocked()
	if s.closed {
		failed, err = true, ErrClosed
	}
	s.mu.Unlock()
	if !failed {
		return nil
	}
	if !due || err == ErrClosed {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.recoverLocked()
}

func (s *File) unavailableLocked() error {
	if s.st.failure == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrUnavailable, s.st.failure)
}

// add numbers the record, adds it to the tree and to the pending batch.
func (s *File) add(body []byte) (ticket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ticket{}, ErrClosed
	}
	if err := s.unavailableLocked(); err != nil {
		return ticket{}, err
	}
	st := &s.st
	st.seq++
	seq := st.seq
	st.cur.log = append(appendRecord(st.cur.log, seq, body), '\n')
	return ticket{seq: seq, epoch: st.epoch, full: len(st.cur.log) >= s.opts.BufferSize}, nil
}

// commit returns once t's record is durable. The first waiter to find no
// flush in progress leads: it flushes and syncs everything pending, others'
// records with its own; the rest sleep until it is done, so that a batch's
// callers do not queue one by one for the writer behind the next leader.
func (s *File) commit(t ticket) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if done, err := s.settledLocked(t); done {
			return err
		}
		if s.st.flushing {
			s.st.flushed.Wait()
			continue
		}
		s.st.flushing = true
		s.mu.Unlock()
		s.wmu.Lock()
		err := s.flushLocked(true)
		s.wmu.Unlock()
		s.mu.Lock()
		s.st.flushing = false
		s.st.flushed.Broadcast()
		if done, serr := s.settledLocked(t); done || err != nil {
			return errors.Join(serr, err)
		}
	}
}

// settledLocked reports whether t's record is durable or gone.
func (s *File) settledLocked(t ticket) (bool, error) {
	if s.st.epoch == t.epoch {
		return s.st.durable >= t.seq, nil
	}
	if t.seq <= s.st.kept[t.epoch] {
		return true, nil // durable before a later failure rolled back others
	}
	return true, fmt.Errorf("%w: %w", ErrUnavailable, s.st.lastFailure)
}

// flushLocked hashes and writes the pending batch and, if sync, syncs the
// log; then it writes a checkpoint or rotates if one is due. Other callers keep
// adding records meanwhile. s.wmu must be held.
func (s *File) flushLocked(sync bool) error {
	s.mu.Lock()
	if err := s.unavailableLocked(); err != nil {
		s.mu.Unlock()
		return err
	}
	st := &s.st
	b := st.cur
	st.cur, st.spare = st.spare, batch{}
	end := st.seq
	sync = sync && end > st.durable
	s.mu.Unlock()

	before := st.tree.clone()
	hashes := s.hashLocked(b.log)
	var err error
	if len(b.log) > 0 {
		err = st.files.write(b.log, hashes)
	}
	if err == nil && sync {
		err = st.files.sync()
	}

	s.mu.Lock()
	if err != nil {
		s.failLocked(err, b, before)
		err = s.unavailableLocked()
		logOff, hashOff := st.logOff, st.hashOff
		s.mu.Unlock()
		s.report(err)
		// Cut the failed batch off now, so that records whose callers were
		// told of the failure do not survive a crash; recovery cuts again.
		_ = st.files.truncate(logOff, hashOff)
		return err
	}
	s.flushedLocked(b, end, sync, int64(len(hashes)))
	s.mu.Unlock()
	// A failed checkpoint or rotation fails the log for later calls, and is
	// reported, but the records just flushed are in the log all the same.
	_ = s.maintainLocked()
	return nil
}

// flushedLocked records a good flush of b, which ends with record end and
// added hashes bytes of hashes. s.mu must be held.
func (s *File) flushedLocked(b batch, end uint64, synced bool, hashes int64) {
	st := &s.st
	st.written = end
	if synced {
		st.durable = end
		st.stats.Syncs++
	}
	st.logOff += int64(len(b.log))
	st.hashOff += hashes
	st.stats.Flushes++
	st.stats.Written, st.stats.Durable = st.written, st.durable
	b.reset()
	st.spare = b
}

// hashLocked adds the records of log to the tree and returns their stored
// hashes. s.wmu must be held.
func (s *File) hashLocked(log []byte) []byte {
	st := &s.st
	st.hashBuf = st.hashBuf[:0]
	for len(log) > 0 {
		i := bytes.IndexByte(log, '\n')
		st.stored = st.tree.add(tlog.RecordHash(log[:i]), st.stored[:0])
		st.hashBuf = appendHashes(st.hashBuf, st.stored)
		log = log[i+1:]
	}
	return st.hashBuf
}

// flushFull writes the buffer if it is still full once the writer is free:
// callers that found it full while a flush was in progress must not each
// write a sliver of it.
func (s *File) flushFull() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	full := len(s.st.cur.log) >= s.opts.BufferSize
	s.mu.Unlock()
	if full {
		// A failed write keeps the batch, the caller's record with it, for
		// the retry: the record is not lost, so the call succeeds and later
		// ones fail.
		_ = s.flushLocked(false)
	}
}

// failLocked puts the log in the failed state after err; before is the tree
// as it was before the failed batch b. A durable log rolls back every record
// not yet written: their callers get the error. A buffered log keeps them,
// because their callers were told they were recorded. s.wmu and s.mu must be
// held.
func (s *File) failLocked(err error, b batch, before tree) {
	st := &s.st
	st.failure, st.failedAt = err, s.opts.Now()
	st.stats.WriteErrors++
	st.tree = before
	if s.opts.Durability == Buffered {
		st.cur.log = append(b.log, st.cur.log...)
		return
	}
	st.seq = uint64(before.n)
	st.cur.reset()
	st.kept = append(st.kept, st.seq)
	st.lastFailure = err
	st.epoch++
}

// recoverLocked cuts the files back to the last good flush and syncs them; on
// success the log takes records again. s.wmu must be held.
func (s *File) recoverLocked() error {
	s.mu.Lock()
	if s.st.failure == nil {
		s.mu.Unlock()
		return nil
	}
	logOff, hashOff := s.st.logOff, s.st.hashOff
	s.mu.Unlock()
	err := s.st.files.truncate(logOff, hashOff)
	if err == nil {
		err = s.st.files.syncAll()
	}
	s.mu.Lock()
	if err != nil {
		s.st.failure, s.st.failedAt = err, s.opts.Now()
		s.st.stats.WriteErrors++
		err = s.unavailableLocked()
		s.mu.Unlock()
		s.report(err)
		return err
	}
	s.st.failure = nil
	s.st.durable = s.st.written
	retained := len(s.st.cur.log) > 0 && s.opts.Durability == Buffered
	s.mu.Unlock()
	if retained { // a recovered disk must also take the records kept for it
		return s.flushLocked(false)
	}
	return nil
}

func (s *File) report(err error) {
	if s.opts.OnError != nil && err != nil {
		s.opts.OnError(err)
	}
}

// maintainLocked writes a checkpoint and rotates the active file when due.
// s.wmu must be held.
func (s *File) maintainLocked() error {
	now := s.opts.Now()
	s.mu.Lock()
	st := &s.st
	uncovered := st.tree.n - st.cp.Size
	if uncovered > 0 && st.cpDue.IsZero() {
		st.cpDue = now.Add(s.opts.CheckpointInterval)
	}
	cpDue := uncovered >= s.opts.CheckpointEvery || (uncovered > 0 && !now.Before(st.cpDue))
	rotate := st.logOff > 0 && ((s.opts.MaxSegmentSize > 0 && st.logOff >= s.opts.MaxSegmentSize) ||
		(s.opts.MaxSegmentAge > 0 && now.Sub(st.segStart) >= s.opts.MaxSegmentAge))
	s.mu.Unlock()
	if !cpDue && !rotate {
		return nil
	}
	if _, err := s.checkpointLocked(); err != nil || !rotate {
		return err
	}
	return s.rotateLocked()
}
