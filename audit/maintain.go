package audit

import (
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// unsignedOrigin is the origin of the checkpoints of a log without a signer.
const unsignedOrigin = "local"

// checkpointLocked syncs the log and its hashes, then signs and stores a
// checkpoint of every record written, unless the latest already covers them.
// It refuses to sign a checkpoint that does not extend the previous one. s.wmu
// must be held.
func (s *File) checkpointLocked() ([]byte, error) {
	s.mu.Lock()
	t, prev, hasPrev, prevSigned := s.st.tree.clone(), s.st.cp, s.st.hasCP, s.st.cpSigned
	s.mu.Unlock()
	if hasPrev && t.n == prev.Size {
		return prevSigned, nil
	}
	signed, cp, err := s.signLocked(t, prev, hasPrev)
	if err != nil {
		s.mu.Lock()
		s.failLocked(err, batch{}, s.st.tree)
		err = s.unavailableLocked()
		s.mu.Unlock()
		s.report(err)
		return nil, err
	}
	s.mu.Lock()
	s.st.cp, s.st.cpSigned, s.st.hasCP, s.st.cpDue = cp, signed, true, time.Time{}
	s.st.durable = uint64(t.n)
	s.st.stats.Checkpoints++
	s.st.stats.Durable = s.st.durable
	s.mu.Unlock()
	if s.opts.OnCheckpoint != nil {
		if err := s.opts.OnCheckpoint(signed); err != nil {
			s.mu.Lock()
			s.st.stats.CheckpointErrors++
			s.mu.Unlock()
			s.report(fmt.Errorf("audit: ship checkpoint %d: %w", cp.Size, err))
		}
	}
	return signed, nil
}

func (s *File) signLocked(t tree, prev Checkpoint, hasPrev bool) ([]byte, Checkpoint, error) {
	fs := s.st.files
	if err := fs.syncAll(); err != nil {
		return nil, Checkpoint{}, err
	}
	if hasPrev {
		if err := extends(prev, t.n, hashFile{fs.hashes}); err != nil {
			return nil, Checkpoint{}, err
		}
	}
	cp := Checkpoint{Origin: s.origin, Size: t.n, Hash: t.root()}
	signed := cp.Text()
	if s.opts.Signer != nil {
		var err error
		if signed, err = SignCheckpoint(cp, s.opts.Signer); err != nil {
			return nil, Checkpoint{}, fmt.Errorf("audit: sign checkpoint: %w", err)
		}
	}
	if err := fs.writeCheckpoint(signed); err != nil {
		return nil, Checkpoint{}, err
	}
	return signed, cp, nil
}

// extends checks that the tree of n records stored in r extends the tree of
// checkpoint prev: the one is a prefix of the other.
func extends(prev Checkpoint, n int64, r tlog.HashReader) error {
	if prev.Size > n {
		return &VerifyError{Index: uint64(n) + 1, Err: ErrTruncated,
			Detail: fmt.Sprintf("the log has %d records, its checkpoint %d", n, prev.Size)}
	}
	if prev.Size == 0 {
		return nil
	}
	h, err := tlog.TreeHash(prev.Size, r)
	if err != nil {
		return err
	}
	if h != prev.Hash {
		return &VerifyError{Err: ErrFork, Detail: fmt.Sprintf("the root of the first %d records is not the checkpoint's", prev.Size)}
	}
	return nil
}

// rotateLocked moves the active file to a numbered segment and starts a new
// one. It follows a checkpoint, so every record before the new file is synced
// and covered. s.wmu must be held.
func (s *File) rotateLocked() error {
	s.mu.Lock()
	first, next := s.st.segFirst, uint64(s.st.tree.n)+1
	s.mu.Unlock()
	err := s.st.files.rotate(first)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.failLocked(err, batch{}, s.st.tree)
		return s.unavailableLocked()
	}
	s.st.segFirst, s.st.segStart, s.st.logOff = next, s.opts.Now(), 0
	s.st.stats.Rotations++
	return nil
}

// loop flushes a buffered log, writes checkpoints and rotates when they fall
// due with no records arriving, and retries a failed log, until Close.
func (s *File) loop(every time.Duration) {
	defer s.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			s.tick()
		}
	}
}

func (s *File) tick() {
	if s.ready() != nil {
		return
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = s.flushLocked(s.opts.Durability != Buffered)
}
