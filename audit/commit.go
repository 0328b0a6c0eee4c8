package audit

import (
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// fileState is a [File]'s mutable state, guarded by File.mu. The files
// themselves are written only with File.wmu held.
type fileState struct {
	files  *logFiles
	tree   tree        // every record numbered so far
	good   tree        // the records written by the last good flush
	cur    batch       // numbered, not yet written
	spare  batch       // cur's recycled buffers
	stored []tlog.Hash // scratch for tree.add

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

	cp       Checkpoint // the latest checkpoint written, if hasCP
	cpSigned []byte
	hasCP    bool
	cpDue    time.Time // when records not covered by cp must be checkpointed

	stats FileStats
}

// batch is records and their stored hashes, ready to be appended.
type batch struct {
	log, hashes []byte
}

func (b *batch) reset() { b.log, b.hashes = b.log[:0], b.hashes[:0] }

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
	failed, due := s.st.failure != nil, s.opts.Now().Sub(s.st.failedAt) >= s.opts.RetryInterval
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
	seq := uint64(st.tree.n) + 1
	n := len(st.cur.log)
	st.cur.log = appendRecord(st.cur.log, seq, body)
	st.stored = st.tree.add(tlog.RecordHash(st.cur.log[n:]), st.stored[:0])
	st.cur.log = append(st.cur.log, '\n')
	st.cur.hashes = appendHashes(st.cur.hashes, st.stored)
	return ticket{seq: seq, epoch: st.epoch, full: len(st.cur.log) >= s.opts.BufferSize}, nil
}

// commit returns once t's record is durable, syncing it if no one else has.
func (s *File) commit(t ticket) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if done, err := s.settled(t); done {
		return err
	}
	if err := s.flushLocked(true); err != nil {
		return err
	}
	_, err := s.settled(t)
	return err
}

// settled reports whether t's record is durable or gone.
func (s *File) settled(t ticket) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.epoch == t.epoch {
		return s.st.durable >= t.seq, nil
	}
	if t.seq <= s.st.kept[t.epoch] {
		return true, nil // durable before a later failure rolled back others
	}
	return true, fmt.Errorf("%w: %w", ErrUnavailable, s.st.lastFailure)
}

// flushLocked writes the pending batch and, if sync, syncs the log; then it
// writes a checkpoint or rotates if one is due. Other callers keep adding
// records meanwhile. s.wmu must be held.
func (s *File) flushLocked(sync bool) error {
	s.mu.Lock()
	if err := s.unavailableLocked(); err != nil {
		s.mu.Unlock()
		return err
	}
	st := &s.st
	b := st.cur
	st.cur, st.spare = st.spare, batch{}
	end, endTree := uint64(st.tree.n), st.tree.clone()
	sync = sync && end > st.durable
	s.mu.Unlock()

	var err error
	if len(b.log) > 0 {
		err = st.files.write(b)
	}
	if err == nil && sync {
		err = st.files.sync()
	}

	s.mu.Lock()
	if err != nil {
		s.failLocked(err, b)
		err = s.unavailableLocked()
		logOff, hashOff := st.logOff, st.hashOff
		s.mu.Unlock()
		s.report(err)
		// Cut the failed batch off now, so that records whose callers were
		// told of the failure do not survive a crash; recovery cuts again.
		_ = st.files.truncate(logOff, hashOff)
		return err
	}
	st.written, st.good = end, endTree
	if sync {
		st.durable = end
		st.stats.Syncs++
	}
	st.logOff += int64(len(b.log))
	st.hashOff += int64(len(b.hashes))
	st.stats.Flushes++
	st.stats.Written, st.stats.Durable = st.written, st.durable
	b.reset()
	st.spare = b
	s.mu.Unlock()
	// A failed checkpoint or rotation fails the log for later calls, and is
	// reported, but the records just flushed are in the log all the same.
	_ = s.maintainLocked()
	return nil
}

// failLocked puts the log in the failed state after err. A durable log rolls
// back every record not yet durable: their callers get the error. A buffered
// log keeps them, because their callers were told they were recorded.
func (s *File) failLocked(err error, b batch) {
	st := &s.st
	st.failure, st.failedAt = err, s.opts.Now()
	st.stats.WriteErrors++
	if s.opts.Durability == Buffered {
		st.cur.log = append(b.log, st.cur.log...)
		st.cur.hashes = append(b.hashes, st.cur.hashes...)
		return
	}
	st.tree = st.good.clone()
	st.cur.reset()
	st.kept = append(st.kept, uint64(st.good.n))
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
	uncovered := st.good.n - st.cp.Size
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
