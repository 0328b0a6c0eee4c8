package identitytest

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelguard/modelguard/identity"
)

// Store is a store under test: an [identity.Store] that also records
// revocations, as identity.MemoryStore and the PostgreSQL store do.
type Store interface {
	identity.Store
	Revoke(ctx context.Context, r identity.Revocation) error
}

// TestStore is the conformance test of a replay and revocation store. open
// must return a new, empty store that reads its clock from now; the test moves
// that clock. Run it from a test of the implementation:
//
//	func TestConformance(t *testing.T) {
//		identitytest.TestStore(t, func(t *testing.T, now func() time.Time) identitytest.Store {
//			return mystore.New(…, now)
//		})
//	}
func TestStore(t *testing.T, open func(t *testing.T, now func() time.Time) Store) {
	t.Run("replay", func(t *testing.T) { testReplay(t, open) })
	t.Run("replay-expires", func(t *testing.T) { testReplayExpires(t, open) })
	t.Run("replay-race", func(t *testing.T) { testReplayRace(t, open) })
	t.Run("revocations", func(t *testing.T) { testRevocations(t, open) })
	t.Run("revocation-expires", func(t *testing.T) { testRevocationExpires(t, open) })
	t.Run("revocation-invalid", func(t *testing.T) { testRevocationInvalid(t, open) })
}

// clock is a manual clock for stores under test.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func testReplay(t *testing.T, open func(*testing.T, func() time.Time) Store) {
	c := newClock()
	s := open(t, c.now)
	ctx := context.Background()
	until := c.now().Add(time.Minute)
	mustUse(t, s.Use(ctx, "iss-a", "jti-1", until), nil)
	mustUse(t, s.Use(ctx, "iss-a", "jti-1", until), identity.ErrReplay)
	mustUse(t, s.Use(ctx, "iss-b", "jti-1", until), nil)
	mustUse(t, s.Use(ctx, "iss-a", "jti-2", until), nil)
	mustUse(t, s.Use(ctx, "iss-a", "JTI-1", until), nil)
}

func testReplayExpires(t *testing.T, open func(*testing.T, func() time.Time) Store) {
	c := newClock()
	s := open(t, c.now)
	ctx := context.Background()
	mustUse(t, s.Use(ctx, "iss", "jti", c.now().Add(time.Minute)), nil)
	c.advance(time.Minute - time.Second)
	mustUse(t, s.Use(ctx, "iss", "jti", c.now().Add(time.Minute)), identity.ErrReplay)
	c.advance(time.Second)
	mustUse(t, s.Use(ctx, "iss", "jti", c.now().Add(time.Minute)), nil)
}

func testReplayRace(t *testing.T, open func(*testing.T, func() time.Time) Store) {
	c := newClock()
	s := open(t, c.now)
	var wins, replays atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			err := s.Use(context.Background(), "iss", "contended", c.now().Add(time.Minute))
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, identity.ErrReplay):
				replays.Add(1)
			default:
				t.Errorf("Use: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 || replays.Load() != 15 {
		t.Fatalf("%d uses won and %d were replays, want 1 and 15", wins.Load(), replays.Load())
	}
}

func testRevocations(t *testing.T, open func(*testing.T, func() time.Time) Store) {
	c := newClock()
	s := open(t, c.now)
	ctx := context.Background()
	want := []identity.Revocation{
		{Kind: identity.RevokeToken, Issuer: "iss", Value: "jti-1", Expires: c.now().Add(time.Hour).Truncate(time.Microsecond)},
		{Kind: identity.RevokeSubject, Issuer: "iss", Value: "model:a", Reason: "compromised"},
		{Kind: identity.RevokeAgent, Issuer: "iss", Value: "bot"},
		{Kind: identity.RevokeKey, Issuer: "iss", Value: "kid-1"},
	}
	for _, r := range want {
		if err := s.Revoke(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	changed := want[2]
	changed.Reason = "replaced"
	if err := s.Revoke(ctx, changed); err != nil {
		t.Fatal(err)
	}
	want[2] = changed
	got := revocations(t, s)
	for _, r := range want {
		if g, ok := got[key(r)]; !ok || g.Reason != r.Reason || !g.Expires.Equal(r.Expires) {
			t.Errorf("revocation %+v: got %+v", r, g)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d revocations, want %d: %+v", len(got), len(want), got)
	}
}

func testRevocationExpires(t *testing.T, open func(*testing.T, func() time.Time) Store) {
	c := newClock()
	s := open(t, c.now)
	r := identity.Revocation{Kind: identity.RevokeToken, Issuer: "iss", Value: "j", Expires: c.now().Add(time.Minute)}
	if err := s.Revoke(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	if n := len(revocations(t, s)); n != 1 {
		t.Fatalf("%d revocations before expiry, want 1", n)
	}
	c.advance(time.Minute)
	if n := len(revocations(t, s)); n != 0 {
		t.Fatalf("%d revocations at expiry, want 0", n)
	}
}

func testRevocationInvalid(t *testing.T, open func(*testing.T, func() time.Time) Store) {
	s := open(t, newClock().now)
	for _, r := range []identity.Revocation{
		{Kind: "user", Issuer: "iss", Value: "v"},
		{Kind: identity.RevokeSubject, Value: "v"},
		{Kind: identity.RevokeSubject, Issuer: "iss"},
	} {
		if err := s.Revoke(context.Background(), r); !errors.Is(err, identity.ErrConfig) {
			t.Errorf("Revoke(%+v) = %v, want ErrConfig", r, err)
		}
	}
}

func key(r identity.Revocation) [3]string { return [3]string{string(r.Kind), r.Issuer, r.Value} }

func revocations(t *testing.T, s Store) map[[3]string]identity.Revocation {
	t.Helper()
	list, err := s.Revocations(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[[3]string]identity.Revocation, len(list))
	for _, r := range list {
		m[key(r)] = r
	}
	return m
}

func mustUse(t *testing.T, err, want error) {
	t.Helper()
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		t.Fatalf("Use = %v, want %v", err, want)
	}
}
