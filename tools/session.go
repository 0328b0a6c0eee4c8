package tools

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/modelguard/modelguard/policy"
)

// ErrHistoryLost is returned for a session whose history this store no longer
// holds in full (it was evicted, or it outgrew the per-session bound). Rules that
// read history deny such a session: eviction never turns a deny into an allow.
var ErrHistoryLost = errors.New("tools: session history was evicted")

// SessionEvent is one fact recorded in a session: a call to Tool at Time, and the
// labels of data the model was exposed to by it (or by content the application
// labelled, with Tool empty).
type SessionEvent = policy.HistoryEvent

// SessionHistory is what a store knows of one session or principal.
type SessionHistory = policy.HistoryState

// SessionKey names the two histories a call reads and extends: its session
// and its principal. An empty key is neither read nor written.
type SessionKey struct {
	Session   string
	Principal string
}

// SessionSnapshot is the state of a call's session and principal, with the
// versions [SessionStore.Append] checks. Its slices are shared with the store:
// read them, never write them.
type SessionSnapshot struct {
	Session, Principal               SessionHistory
	SessionVersion, PrincipalVersion uint64
}

// SessionStore keeps what sessions and principals have seen and done. It is
// the one extension point of session-aware policy: [*MemorySessions] keeps it
// in memory, the nested module tools/sessionpg in PostgreSQL. Implementations
// are safe for concurrent use.
type SessionStore interface {
	// Load returns the histories of k's session and principal. A key never
	// seen has an empty history; a key whose history is no longer complete is
	// an error matching [ErrHistoryLost].
	Load(ctx context.Context, k SessionKey) (SessionSnapshot, error)
	// Append records ev in k's session and principal. When check is not nil,
	// it does so only if neither changed since check was loaded, and returns
	// an error matching [ErrSessionConflict] otherwise. Events appended to a
	// session without a principal also reach the principal the session was
	// first used by (and, once a session gets a principal, its earlier labels
	// reach that principal too).
	Append(ctx context.Context, k SessionKey, ev SessionEvent, check *SessionSnapshot) error
}

// MemorySessions is a bounded in-memory [SessionStore]. When it holds more than
// MaxSessions histories (sessions and principals) it evicts the least recently
// used one; a session with more than MaxEvents events or MaxLabels labels is
// dropped. Either way the key is added to a fixed-size Bloom filter of lost
// histories, and Load returns [ErrHistoryLost] for it from then on (a false
// positive denies a fresh session, never allows a lost one). A principal's
// events older than Retain are dropped instead (and when it has more than
// MaxEvents, the older half): its labels stay, with the time each was last
// seen, and a rule asking about a window before what is kept fails, and so
// denies. The filter is fixed-size (2^20 bits, 3 hashes): after about 10^5
// evictions (1% false positives at about 85,000) more and more fresh sessions are
// denied as lost, so size MaxSessions for the working set of sessions, or use
// PostgreSQL (tools/sessionpg), which evicts nothing. The zero value is ready
// to use, with the defaults noted. It is safe for concurrent use.
type MemorySessions struct {
	// MaxSessions bounds the histories kept; default 10000.
	MaxSessions int
	// MaxEvents bounds the events of one history; default 1024.
	MaxEvents int
	// MaxLabels bounds the distinct labels of one history; default 256.
	MaxLabels int
	// Retain is how long a principal's events are kept; default 24h.
	Retain time.Duration

	mu   sync.Mutex
	m    map[hkey]*memSession
	lru  memSession      // sentinel of the recency list: lru.next is the least recently used
	lost [1 << 14]uint64 // Bloom filter bits (2^20), 3 hashes
}

// hkey names a history: a session or a principal.
type hkey struct {
	principal bool
	id        string
}

type memSession struct {
	key        hkey
	h          SessionHistory
	ver        uint64
	principal  string // for a session: the principal it was first used by
	prev, next *memSession
}

func (s *MemorySessions) bits(key hkey) [3]uint32 {
	// FNV-1a over a kind byte and the id, without allocating.
	v := uint64(14695981039346656037)
	kind := byte('s')
	if key.principal {
		kind = 'p'
	}
	v = (v ^ uint64(kind)) * 1099511628211
	v *= 1099511628211 // a zero separator byte: v ^ 0 is v
	for i := 0; i < len(key.id); i++ {
		v = (v ^ uint64(key.id[i])) * 1099511628211
	}
	a, b := uint32(v), uint32(v>>32)|1
	return [3]uint32{a % (1 << 20), (a + b) % (1 << 20), (a + 2*b) % (1 << 20)}
}

func (s *MemorySessions) markLost(key hkey) {
	for _, b := range s.bits(key) {
		s.lost[b/64] |= 1 << (b % 64)
	}
}

func (s *MemorySessions) isLost(key hkey) bool {
	for _, b := range s.bits(key) {
		if s.lost[b/64]&(1<<(b%64)) == 0 {
			return false
		}
	}
	return true
}

func sessionKey(id string) hkey   { return hkey{id: id} }
func principalKey(id string) hkey { return hkey{principal: true, id: id} }

// Record appends ev to the session key.
func (s *MemorySessions) Record(key string, ev SessionEvent) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record(sessionKey(key), ev, false)
}

// History returns the session's history; a session never seen has an empty
// one. It returns [ErrHistoryLost] for a session whose history was dropped.
func (s *MemorySessions) History(key string) (SessionHistory, error) {
	if s == nil {
		return SessionHistory{}, errors.New("tools: nil MemorySessions")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h, _, err := s.load(sessionKey(key))
	return h, err
}

// Load implements [SessionStore].
func (s *MemorySessions) Load(ctx context.Context, k SessionKey) (SessionSnapshot, error) {
	if s == nil {
		return SessionSnapshot{}, errors.New("tools: nil MemorySessions")
	}
	var snap SessionSnapshot
	var errS, errP error
	s.mu.Lock()
	if k.Session != "" {
		snap.Session, snap.SessionVersion, errS = s.load(sessionKey(k.Session))
	}
	if k.Principal != "" {
		snap.Principal, snap.PrincipalVersion, errP = s.load(principalKey(k.Principal))
	}
	s.mu.Unlock()
	if errS != nil {
		return snap, fmt.Errorf("session %q: %w", k.Session, errS)
	}
	if errP != nil {
		return snap, fmt.Errorf("principal %q: %w", k.Principal, errP)
	}
	snap.Session.ID, snap.Principal.ID = k.Session, k.Principal
	return snap, nil
}

// Append implements [SessionStore].
func (s *MemorySessions) Append(ctx context.Context, k SessionKey, ev SessionEvent, check *SessionSnapshot) error {
	if s == nil {
		return errors.New("tools: nil MemorySessions")
	}
	ev.Labels = slices.Clone(ev.Labels)
	s.mu.Lock()
	defer s.mu.Unlock()
	if check != nil && ((check.Session.ID != "" && s.version(sessionKey(check.Session.ID)) != check.SessionVersion) ||
		(check.Principal.ID != "" && s.version(principalKey(check.Principal.ID)) != check.PrincipalVersion)) {
		return ErrSessionConflict
	}
	if k.Session != "" {
		sk := sessionKey(k.Session)
		ms := s.record(sk, ev, false)
		switch {
		case ms == nil:
		case k.Principal == "":
			k.Principal = ms.principal
		case ms.principal == "":
			ms.principal = k.Principal
			if ms.ver > 1 && len(ms.h.Labels) > 0 { // the session's earlier labels reach its principal
				s.mergeLabels(principalKey(k.Principal), ms.h.Labels, ms.h.LastSeen)
			}
		}
	}
	if k.Principal != "" {
		s.record(principalKey(k.Principal), ev, true)
	}
	return nil
}

func (s *MemorySessions) version(key hkey) uint64 {
	if ms := s.m[key]; ms != nil {
		return ms.ver
	}
	return 0
}

// load returns key's history, sharing its slices: the store only ever appends
// to them or replaces them, so what a snapshot holds never changes.
func (s *MemorySessions) load(key hkey) (SessionHistory, uint64, error) {
	if s.isLost(key) {
		return SessionHistory{}, 0, ErrHistoryLost
	}
	ms := s.m[key]
	if ms == nil {
		return SessionHistory{}, 0, nil
	}
	s.touch(ms)
	h := ms.h
	h.Labels, h.LastSeen, h.Events = slices.Clip(h.Labels), slices.Clip(h.LastSeen), slices.Clip(h.Events)
	return h, ms.ver, nil
}

// record appends ev to key and returns its entry, nil when key is lost.
// trim: a principal, whose old events are dropped rather than the whole key.
func (s *MemorySessions) record(key hkey, ev SessionEvent, trim bool) *memSession {
	if s.isLost(key) {
		return nil // its history is already unknown; nothing recorded can make it complete
	}
	if s.m == nil {
		s.m = map[hkey]*memSession{}
		s.lru.prev, s.lru.next = &s.lru, &s.lru
	}
	ms := s.m[key]
	if ms == nil {
		if len(s.m) >= orDefault(s.MaxSessions, 10000) {
			s.drop(s.lru.next)
		}
		ms = &memSession{key: key}
		s.m[key] = ms
		ms.prev, ms.next = &s.lru, &s.lru // linked in by touch
		s.lru.prev.next, ms.prev = ms, s.lru.prev
		s.lru.prev = ms
	}
	s.touch(ms)
	ms.ver++
	h := &ms.h
	if h.First.IsZero() || ev.Time.Before(h.First) {
		h.First = ev.Time
	}
	for _, l := range ev.Labels {
		if i := slices.Index(h.Labels, l); i >= 0 {
			if ev.Time.After(h.LastSeen[i]) {
				h.LastSeen = slices.Clone(h.LastSeen) // snapshots share the old one
				h.LastSeen[i] = ev.Time
			}
			continue
		}
		h.Labels, h.LastSeen = append(h.Labels, l), append(h.LastSeen, ev.Time)
	}
	if ev.Tool != "" {
		h.Calls++
	}
	h.Events = append(h.Events, ev)
	maxEv := orDefault(s.MaxEvents, 1024)
	switch {
	case len(h.Labels) > orDefault(s.MaxLabels, 256) || (!trim && len(h.Events) > maxEv):
		s.drop(ms)
		return nil
	case trim:
		s.trim(h, ev.Time, maxEv)
	}
	return ms
}

// mergeLabels adds labels, last seen at times, to key's history.
func (s *MemorySessions) mergeLabels(key hkey, labels []string, times []time.Time) {
	for i, l := range labels {
		if ms := s.record(key, SessionEvent{Time: times[i], Labels: []string{l}}, true); ms != nil {
			ms.h.Events = ms.h.Events[:len(ms.h.Events)-1] // a label, not an event
		}
	}
}

// trim drops a principal's events older than Retain (once they are a quarter
// of Retain past it, so that the copy is amortized), and the older half when
// there are more than max.
func (s *MemorySessions) trim(h *SessionHistory, now time.Time, max int) {
	retain := s.Retain
	if retain <= 0 {
		retain = 24 * time.Hour
	}
	cut := now.Add(-retain)
	if len(h.Events) > 0 && h.Events[0].Time.Before(cut.Add(-retain/4)) {
		i, _ := slices.BinarySearchFunc(h.Events, cut, func(e SessionEvent, t time.Time) int { return e.Time.Compare(t) })
		h.Events, h.Horizon = slices.Clone(h.Events[i:]), maxTime(h.Horizon, cut)
	}
	if len(h.Events) > max {
		half := len(h.Events) / 2
		h.Horizon = maxTime(h.Horizon, h.Events[half-1].Time.Add(time.Nanosecond))
		h.Events = slices.Clone(h.Events[half:])
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func orDefault(n, def int) int {
	if n > 0 {
		return n
	}
	return def
}

// touch makes ms the most recently used.
func (s *MemorySessions) touch(ms *memSession) {
	if s.lru.prev == ms {
		return
	}
	ms.prev.next, ms.next.prev = ms.next, ms.prev
	ms.prev, ms.next = s.lru.prev, &s.lru
	s.lru.prev.next = ms
	s.lru.prev = ms
}

// drop forgets ms and marks its key lost.
func (s *MemorySessions) drop(ms *memSession) {
	if ms == &s.lru {
		return
	}
	ms.prev.next, ms.next.prev = ms.next, ms.prev
	delete(s.m, ms.key)
	s.markLost(ms.key)
}
