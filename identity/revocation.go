package identity

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultRevocationInterval is how long a verifier uses a revocation list
// before it reloads it from the store: the longest a revocation takes to reach
// every instance.
const DefaultRevocationInterval = 5 * time.Second

// revocations is a verifier's copy of the store's revocation list. It is
// reloaded at most every interval, by the first call that finds it older; a
// call that cannot reload it is refused rather than served from a list older
// than the interval, so a revocation is in force everywhere within the
// interval of being stored.
type revocations struct {
	store    Store
	interval time.Duration
	mu       sync.Mutex // one reload at a time
	snap     atomic.Pointer[revSnapshot]
}

// revSnapshot is one loaded list. Lookups use a struct key of strings, which
// does not allocate.
type revSnapshot struct {
	at time.Time
	m  map[revKey]Revocation
}

func newRevocations(store Store, interval time.Duration) *revocations {
	return &revocations{store: store, interval: interval}
}

// fresh reports whether s may still be used at now. A clock that went back
// makes it stale too.
func (r *revocations) fresh(s *revSnapshot, now time.Time) bool {
	return s != nil && !now.Before(s.at) && now.Sub(s.at) < r.interval
}

// current returns a list no older than the interval, reloading it if needed.
func (r *revocations) current(ctx context.Context, now time.Time) (*revSnapshot, error) {
	if s := r.snap.Load(); r.fresh(s, now) {
		return s, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.snap.Load(); r.fresh(s, now) {
		return s, nil
	}
	list, err := r.store.Revocations(ctx)
	if err != nil {
		return nil, fmt.Errorf("identity: load revocations: %v: %w", err, ErrStore)
	}
	s := &revSnapshot{at: now, m: make(map[revKey]Revocation, len(list))}
	for _, rv := range list {
		if rv.in(now) {
			s.m[revKey{rv.Kind, rv.Issuer, rv.Value}] = rv
		}
	}
	r.snap.Store(s)
	return s, nil
}

// check refuses c (signed with key kid, from issuer iss) if a revocation
// matches it. A nil *revocations (no store) matches nothing.
func (r *revocations) check(ctx context.Context, iss string, c *Claims, kid string, now time.Time) error {
	if r == nil {
		return nil
	}
	s, err := r.current(ctx, now)
	if err != nil {
		return err
	}
	if len(s.m) == 0 {
		return nil
	}
	if err := s.match(RevokeToken, iss, c.ID, now); err != nil {
		return err
	}
	if err := s.match(RevokeKey, iss, kid, now); err != nil {
		return err
	}
	if err := s.match(RevokeSubject, iss, c.Subject, now); err != nil {
		return err
	}
	for _, a := range c.Act {
		if err := s.match(RevokeSubject, iss, a.Subject, now); err != nil {
			return err
		}
	}
	if c.Agent == "" {
		return nil
	}
	return s.match(RevokeAgent, iss, c.Agent, now)
}

func (s *revSnapshot) match(kind RevocationKind, iss, value string, now time.Time) error {
	rv, ok := s.m[revKey{kind, iss, value}]
	if !ok || !rv.in(now) {
		return nil
	}
	why := ""
	if rv.Reason != "" {
		why = fmt.Sprintf(" (%.128s)", rv.Reason)
	}
	return fmt.Errorf("identity: %s %.128q of %.128q is revoked%s: %w", kind, value, iss, why, ErrRevoked)
}
