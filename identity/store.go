package identity

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Store holds the replay and revocation state that a [Verifier] consults on
// every call. Several application instances that share one Store (such as the
// PostgreSQL store of the identity/postgres module) share that state: a token
// used once is used everywhere, and a revocation reaches every instance within
// VerifierOptions.RevocationInterval.
//
// Implementations must be safe for concurrent use. Any error other than one
// wrapping [ErrReplay] means the store could not answer; the verifier then
// refuses the token with [ErrStore].
type Store interface {
	// Use records the one-time use of the token whose issuer and decoded jti
	// are given, to be remembered at least until until. It returns an error
	// wrapping ErrReplay if that pair is already recorded and not yet past its
	// own until.
	Use(ctx context.Context, issuer, jti string, until time.Time) error

	// Revocations returns every revocation still in force.
	Revocations(ctx context.Context) ([]Revocation, error)
}

// RevocationKind says what a [Revocation] matches.
type RevocationKind string

// The kinds of revocation.
const (
	RevokeToken   RevocationKind = "jti"   // one token, by its jti
	RevokeSubject RevocationKind = "sub"   // every token whose sub, or any actor's sub, is Value
	RevokeAgent   RevocationKind = "agent" // every token whose agent claim is Value
	RevokeKey     RevocationKind = "kid"   // every token signed with the key whose kid is Value
)

// Revocation refuses every token of Issuer that it matches (see
// [RevocationKind]) until Expires. For tokens verified by a verifier from
// [NewSVIDVerifier], Issuer is "spiffe://" followed by the trust domain.
type Revocation struct {
	Kind   RevocationKind
	Issuer string
	Value  string
	// Expires is when the revocation may be forgotten; zero means never. For a
	// RevokeToken, the token's exp plus the leeway is enough.
	Expires time.Time
	// Reason is free text for operators; it appears in the verifier's error.
	Reason string
}

// Validate reports whether r can be stored: a known kind and a non-empty
// issuer and value.
func (r Revocation) Validate() error {
	switch {
	case r.Kind != RevokeToken && r.Kind != RevokeSubject && r.Kind != RevokeAgent && r.Kind != RevokeKey:
		return fmt.Errorf("identity: revocation kind %.32q (want jti, sub, agent or kid): %w", r.Kind, ErrConfig)
	case r.Issuer == "" || r.Value == "":
		return fmt.Errorf("identity: revocation needs an issuer and a value: %w", ErrConfig)
	}
	return nil
}

// in reports whether r is in force at now.
func (r Revocation) in(now time.Time) bool { return r.Expires.IsZero() || now.Before(r.Expires) }

// DefaultMaxStoreEntries is the default bound of a [MemoryStore].
const DefaultMaxStoreEntries = 1 << 20

// MemoryStoreOptions tunes a [MemoryStore]. The zero value is the default.
type MemoryStoreOptions struct {
	// MaxEntries bounds the used token ids held at once. When it is reached
	// and no entry has expired, Use fails (and the verifier refuses the token
	// with ErrStore) rather than forget an id that could then be replayed.
	// Zero means DefaultMaxStoreEntries.
	MaxEntries int
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// MemoryStore is a [Store] for one process. It is safe for concurrent use.
type MemoryStore struct {
	mu      sync.Mutex
	max     int
	now     func() time.Time
	used    map[usedKey]time.Time
	revoked map[revKey]Revocation
}

type usedKey struct{ issuer, jti string }

// revKey identifies a revocation; it is also the lookup key of a snapshot.
type revKey struct {
	kind          RevocationKind
	issuer, value string
}

// NewMemoryStore returns an empty store.
func NewMemoryStore(opts MemoryStoreOptions) *MemoryStore {
	s := &MemoryStore{max: orDefault(opts.MaxEntries, DefaultMaxStoreEntries), now: opts.Now,
		used: make(map[usedKey]time.Time), revoked: make(map[revKey]Revocation)}
	if s.now == nil {
		s.now = time.Now
	}
	return s
}

// errStoreFull is the error of a full MemoryStore.
var errStoreFull = errors.New("identity: memory store is full of unexpired token ids")

// Use implements [Store].
func (s *MemoryStore) Use(_ context.Context, issuer, jti string, until time.Time) error {
	if s == nil || s.now == nil {
		return fmt.Errorf("identity: MemoryStore not built by NewMemoryStore: %w", ErrConfig)
	}
	k := usedKey{issuer, jti}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if u, ok := s.used[k]; ok && now.Before(u) {
		return fmt.Errorf("identity: jti %.64q of %.128q was already used: %w", jti, issuer, ErrReplay)
	}
	if len(s.used) >= s.max {
		s.sweep(now)
		if len(s.used) >= s.max {
			return errStoreFull
		}
	}
	s.used[k] = until
	return nil
}

// sweep drops the ids whose until has passed.
func (s *MemoryStore) sweep(now time.Time) {
	for k, u := range s.used {
		if !now.Before(u) {
			delete(s.used, k)
		}
	}
}

// Revoke records r, replacing an earlier revocation of the same kind, issuer
// and value.
func (s *MemoryStore) Revoke(_ context.Context, r Revocation) error {
	if s == nil || s.now == nil {
		return fmt.Errorf("identity: MemoryStore not built by NewMemoryStore: %w", ErrConfig)
	}
	if err := r.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	s.revoked[revKey{r.Kind, r.Issuer, r.Value}] = r
	s.mu.Unlock()
	return nil
}

// Revocations implements [Store]; it forgets revocations past their Expires.
func (s *MemoryStore) Revocations(context.Context) ([]Revocation, error) {
	if s == nil || s.now == nil {
		return nil, fmt.Errorf("identity: MemoryStore not built by NewMemoryStore: %w", ErrConfig)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	out := make([]Revocation, 0, len(s.revoked))
	for k, r := range s.revoked {
		if !r.in(now) {
			delete(s.revoked, k)
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// Len reports the number of used token ids held, expired or not.
func (s *MemoryStore) Len() int {
	if s == nil || s.now == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.used)
}
