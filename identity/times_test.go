package identity_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/modelguard/modelguard/identity"
)

// TestTimeBoundaries puts the clock exactly on each boundary (accepted) and one
// second or one nanosecond past it (rejected), with the cache on and off.
func TestTimeBoundaries(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	at := func(d time.Duration) int64 { return t0.Add(d).Unix() }
	const (
		s   = time.Second
		min = time.Minute
	)
	window := map[string]any{"iat": at(0), "nbf": at(0), "exp": at(min)}
	early := map[string]any{"iat": at(0), "nbf": at(0), "exp": at(10 * min)}
	future := map[string]any{"iat": at(0), "exp": at(10 * min)} // no nbf
	long := func(life time.Duration) map[string]any {
		return map[string]any{"iat": at(0), "nbf": at(0), "exp": at(life)}
	}
	tests := []struct {
		name   string
		claims map[string]any
		opts   identity.VerifierOptions
		now    time.Duration // clock, relative to t0
		want   error         // nil: accepted
	}{
		{"exp at leeway", window, identity.VerifierOptions{}, min + 30*s, nil},
		{"exp 1s past leeway", window, identity.VerifierOptions{}, min + 31*s, identity.ErrExpired},
		{"exp 1ns past leeway", window, identity.VerifierOptions{}, min + 30*s + 1, identity.ErrExpired},
		{"exp at max leeway", window, identity.VerifierOptions{Leeway: identity.MaxLeeway}, 2 * min, nil},
		{"exp 1s past max leeway", window, identity.VerifierOptions{Leeway: identity.MaxLeeway}, 2*min + s, identity.ErrExpired},
		{"exp no leeway", window, identity.VerifierOptions{Leeway: -1}, min, nil},
		{"exp 1s past no leeway", window, identity.VerifierOptions{Leeway: -1}, min + s, identity.ErrExpired},
		{"nbf at leeway", early, identity.VerifierOptions{}, -30 * s, nil},
		{"nbf 1s before leeway", early, identity.VerifierOptions{}, -31 * s, identity.ErrNotYetValid},
		{"nbf no leeway", early, identity.VerifierOptions{Leeway: -1}, 0, nil},
		{"nbf 1s early no leeway", early, identity.VerifierOptions{Leeway: -1}, -s, identity.ErrNotYetValid},
		{"iat at leeway", future, identity.VerifierOptions{}, -30 * s, nil},
		{"iat 1s beyond leeway", future, identity.VerifierOptions{}, -31 * s, identity.ErrIssuedInFuture},
		{"iat 1ns beyond leeway", future, identity.VerifierOptions{}, -30*s - 1, identity.ErrIssuedInFuture},
		{"lifetime at max", long(time.Hour), identity.VerifierOptions{}, 0, nil},
		{"lifetime 1s over max", long(time.Hour + s), identity.VerifierOptions{}, 0, identity.ErrLifetime},
		{"lifetime at custom max", long(10 * min), identity.VerifierOptions{MaxLifetime: 10 * min}, 0, nil},
		{"lifetime 1s over custom max", long(10*min + s), identity.VerifierOptions{MaxLifetime: 10 * min}, 0, identity.ErrLifetime},
	}
	for _, tt := range tests {
		for _, cache := range []int{0, -1} {
			t.Run(fmt.Sprintf("%s/cache=%d", tt.name, cache), func(t *testing.T) {
				t.Parallel()
				c := k.ClaimSet()
				delete(c, "nbf")
				for name, v := range tt.claims {
					c[name] = v
				}
				opts := tt.opts
				opts.CacheSize = cache
				opts.Now = func() time.Time { return t0.Add(tt.now) }
				_, err := verify(t, k, opts, k.Sign(t, k.Header(), c))
				if tt.want == nil {
					if err != nil {
						t.Fatalf("rejected: %v", err)
					}
					return
				}
				wantOnly(t, err, tt.want)
			})
		}
	}
}

// TestCacheHonoursBoundaries verifies a token once inside its window, then
// moves the clock to each edge: the cached claims are served exactly while a
// full verification would pass.
func TestCacheHonoursBoundaries(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	tok := k.Sign(t, k.Header(), with(k, func(c map[string]any) {
		c["iat"], c["nbf"], c["exp"] = t0.Unix(), t0.Add(time.Minute).Unix(), t0.Add(2*time.Minute).Unix()
	}))
	tests := []struct {
		name string
		now  time.Duration
		want error
	}{
		{"first verify", time.Minute, nil},
		{"nbf edge", 30 * time.Second, nil},
		{"before nbf edge", 29 * time.Second, identity.ErrNotYetValid},
		{"exp edge", 2*time.Minute + 30*time.Second, nil},
		{"past exp edge", 2*time.Minute + 31*time.Second, identity.ErrExpired},
		{"back inside after eviction", time.Minute, nil},
	}
	var now time.Duration
	v := k.Verifier(t, identity.VerifierOptions{Now: func() time.Time { return t0.Add(now) }})
	for _, tt := range tests { // sequential: each step depends on the cache state
		now = tt.now
		_, err := v.Verify(context.Background(), tok)
		if tt.want == nil && err != nil {
			t.Fatalf("%s: rejected: %v", tt.name, err)
		}
		if tt.want != nil {
			wantOnly(t, err, tt.want)
		}
	}
}
