package tools

import (
	"errors"
	"hash/fnv"
	"slices"
	"sync"
	"time"
)

// ErrHistoryLost is returned for a session whose history this store no longer
// holds in full (it was evicted, or it outgrew the per-session bound). Rules that
// read history deny such a session: eviction never turns a deny into an allow.
var ErrHistoryLost = errors.New("modelguard: session history was evicted")

// SessionEvent is one fact recorded in a session: a call to Tool at Time, and the
// labels of data the model was exposed to by it (or by content the application
// labelled, with Tool empty).
type SessionEvent struct {
	Time     time.Time
	Tool     string
	Labels   []string
	Approved bool
}

// SessionHistory is what a store knows of one session.
type SessionHistory struct {
	Labels []string // distinct, in first-seen order
	Events []SessionEvent
}

// MemorySessions is a bounded in-memory session store. When it holds more than
// MaxSessions sessions it evicts the least recently used one; a session with more
// than MaxEvents events is truncated. Either way the session's key is added to a
// fixed-size Bloom filter of lost sessions, and History returns [ErrHistoryLost]
// for it from then on (a false positive denies a fresh session, never allows a
// lost one). It is safe for concurrent use.
type MemorySessions struct {
	MaxSessions, MaxEvents int

	mu    sync.Mutex
	m     map[string]*memSession
	clock uint64
	lost  [1 << 14]uint64 // Bloom filter bits (2^20), 3 hashes
}

type memSession struct {
	h    SessionHistory
	used uint64
}

func (s *MemorySessions) bits(key string) [3]uint32 {
	f := fnv.New64a()
	f.Write([]byte(key))
	v := f.Sum64()
	a, b := uint32(v), uint32(v>>32)|1
	return [3]uint32{a % (1 << 20), (a + b) % (1 << 20), (a + 2*b) % (1 << 20)}
}

func (s *MemorySessions) markLost(key string) {
	for _, b := range s.bits(key) {
		s.lost[b/64] |= 1 << (b % 64)
	}
}

func (s *MemorySessions) isLost(key string) bool {
	for _, b := range s.bits(key) {
		if s.lost[b/64]&(1<<(b%64)) == 0 {
			return false
		}
	}
	return true
}

// Record appends ev to the session key.
func (s *MemorySessions) Record(key string, ev SessionEvent) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isLost(key) {
		return // its history is already unknown; nothing recorded can make it complete
	}
	if s.m == nil {
		s.m = map[string]*memSession{}
	}
	s.clock++
	ms := s.m[key]
	if ms == nil {
		if max := s.MaxSessions; max > 0 && len(s.m) >= max {
			s.evictLRU()
		}
		ms = &memSession{}
		s.m[key] = ms
	}
	ms.used = s.clock
	ev.Labels = slices.Clone(ev.Labels)
	for _, l := range ev.Labels {
		if !slices.Contains(ms.h.Labels, l) {
			ms.h.Labels = append(ms.h.Labels, l)
		}
	}
	ms.h.Events = append(ms.h.Events, ev)
	if max := s.MaxEvents; max > 0 && len(ms.h.Events) > max {
		delete(s.m, key)
		s.markLost(key)
	}
}

func (s *MemorySessions) evictLRU() {
	var victim string
	var oldest uint64
	for k, ms := range s.m {
		if victim == "" || ms.used < oldest {
			victim, oldest = k, ms.used
		}
	}
	delete(s.m, victim)
	s.markLost(victim)
}

// History returns a copy of the session's history; a session never seen has an
// empty one. It returns [ErrHistoryLost] for a session whose history was dropped.
func (s *MemorySessions) History(key string) (SessionHistory, error) {
	if s == nil {
		return SessionHistory{}, errors.New("tools: nil MemorySessions")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.isLost(key) {
		return SessionHistory{}, ErrHistoryLost
	}
	ms := s.m[key]
	if ms == nil {
		return SessionHistory{}, nil
	}
	s.clock++
	ms.used = s.clock
	return SessionHistory{Labels: slices.Clone(ms.h.Labels), Events: slices.Clone(ms.h.Events)}, nil
}
