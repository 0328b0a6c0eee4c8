package identity_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/modelguard/modelguard/identity"
)

var ctx = context.Background()

// TestCacheHit is not parallel: testing.AllocsPerRun forbids it.
func TestCacheHit(t *testing.T) {
	k := newKit(t)
	v := k.Verifier(t, identity.VerifierOptions{})
	tok := k.Mint(t, identity.Claims{})
	first, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	var again *identity.Claims
	allocs := testing.AllocsPerRun(100, func() { again, err = v.Verify(ctx, tok) })
	if err != nil || again != first {
		t.Fatalf("hit returned %p, %v; want the first claims %p", again, err, first)
	}
	if allocs != 0 {
		t.Errorf("cache hit allocates %v times, want 0", allocs)
	}
}

func TestCacheDisabled(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	v := k.Verifier(t, identity.VerifierOptions{CacheSize: -1})
	tok := k.Mint(t, identity.Claims{})
	a, err1 := v.Verify(ctx, tok)
	b, err2 := v.Verify(ctx, tok)
	if err1 != nil || err2 != nil || a == b || identity.CacheLen(v) != 0 {
		t.Errorf("disabled cache: %p %p %v %v len %d", a, b, err1, err2, identity.CacheLen(v))
	}
}

func TestCacheExpiredNotServed(t *testing.T) {
	t.Parallel()
	k := newKit(t) // every test has its own kit: the clock moves
	v := k.Verifier(t, identity.VerifierOptions{})
	tok := k.Mint(t, identity.Claims{})
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatal(err)
	}
	k.Advance(identity.DefaultTTL + identity.DefaultLeeway + time.Second)
	_, err := v.Verify(ctx, tok)
	wantOnly(t, err, identity.ErrExpired)
	if n := identity.CacheLen(v); n != 0 {
		t.Errorf("expired entry kept: %d cached", n)
	}
}

func TestCacheErrorsNotCached(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	v := k.Verifier(t, identity.VerifierOptions{})
	for _, b := range k.Broken(t) {
		_, err := v.Verify(ctx, b.Token)
		wantOnly(t, err, b.Err)
	}
	if n := identity.CacheLen(v); n != 0 {
		t.Fatalf("%d rejected tokens cached", n)
	}
	early := k.NotYetValid(t)
	_, err := v.Verify(ctx, early)
	wantOnly(t, err, identity.ErrNotYetValid)
	k.Advance(5 * time.Minute)
	if _, err := v.Verify(ctx, early); err != nil {
		t.Fatalf("once valid, still rejected: %v", err)
	}
}

func TestCacheBounded(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	const size = 16
	v := k.Verifier(t, identity.VerifierOptions{CacheSize: size})
	for i := range 10 * size {
		if _, err := v.Verify(ctx, k.Mint(t, identity.Claims{ID: fmt.Sprint(i)})); err != nil {
			t.Fatal(err)
		}
		if n := identity.CacheLen(v); n > size {
			t.Fatalf("after %d tokens, %d cached; bound is %d", i+1, n, size)
		}
	}
}

// TestCacheSweepsExpiredFirst fills the cache, lets every entry expire, and
// checks that one more insert sweeps them all rather than evicting one.
func TestCacheSweepsExpiredFirst(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	const size = 16
	v := k.Verifier(t, identity.VerifierOptions{CacheSize: size})
	for i := range size {
		if _, err := v.Verify(ctx, k.Mint(t, identity.Claims{ID: fmt.Sprint(i)})); err != nil {
			t.Fatal(err)
		}
	}
	k.Advance(time.Hour)
	if _, err := v.Verify(ctx, k.Mint(t, identity.Claims{})); err != nil {
		t.Fatal(err)
	}
	if n := identity.CacheLen(v); n != 1 {
		t.Errorf("%d cached after the sweep, want 1", n)
	}
}

// TestCacheConcurrent is for the race detector: readers, writers and a moving
// clock at once.
func TestCacheConcurrent(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	v := k.Verifier(t, identity.VerifierOptions{CacheSize: 8})
	toks := make([]string, 32)
	for i := range toks {
		toks[i] = k.Mint(t, identity.Claims{ID: fmt.Sprint(i)})
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				if _, err := v.Verify(ctx, toks[(g+i)%len(toks)]); err != nil {
					t.Error(err)
					return
				}
				if g == 0 && i%50 == 0 {
					k.Advance(time.Second)
				}
			}
		})
	}
	wg.Wait()
}
