package identity_test

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/identity"
)

// rotation drives key rotations against a JWK Set server while workers mint
// with the current key and verify through a RemoteKeys verifier.
type rotation struct {
	s       *jwksServer
	v       *identity.Verifier
	issuers []*identity.Issuer // by generation
	gen     atomic.Int32
	mu      sync.Mutex // guards issuers
}

const rotationIssuer = "https://rotating.test"

func newRotation(t testing.TB, opts identity.RemoteKeysOptions, vopts identity.VerifierOptions) *rotation {
	k := newKeyTB(t, "gen-0")
	s := newJWKSServerTB(t, k)
	opts.Client, opts.Now = s.Client(), s.clock.now
	keys, err := identity.NewRemoteKeys(s.URL+"/jwks", opts)
	check(err)
	vopts.Now = s.clock.now
	v, err := identity.NewVerifier(rotationIssuer, "tools", keys, vopts)
	check(err)
	r := &rotation{s: s, v: v}
	r.issuers = append(r.issuers, r.issuer(k))
	return r
}

func (r *rotation) issuer(k jose.JSONWebKey) *identity.Issuer {
	i, err := identity.NewIssuer(rotationIssuer, k, identity.IssuerOptions{Now: r.s.clock.now})
	check(err)
	return i
}

// current returns the generation in force and its issuer.
func (r *rotation) current() (int32, *identity.Issuer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g := r.gen.Load()
	return g, r.issuers[g]
}

// rotate publishes a new key beside the old one, switches the issuers to it
// at once, waits (via wait) until no worker still uses the old one, then
// retires the old key and lets the scheduled refresh pick that up.
func (r *rotation) rotate(t testing.TB, wait func(gen int32), refresh time.Duration) {
	g, old := r.current()
	next := newKeyTB(t, "gen-"+itoa(g+1))
	r.s.setKeys(t, old.PublicKey(), next)
	r.mu.Lock()
	r.issuers = append(r.issuers, r.issuer(next))
	r.gen.Store(g + 1)
	r.mu.Unlock()
	wait(g + 1)
	r.s.setKeys(t, next)
	r.s.clock.advance(refresh)
}

func mintVerify(r *rotation, i *identity.Issuer) error {
	tok, err := i.Mint(identity.Claims{Subject: "model:w", Audience: []string{"tools"}})
	if err != nil {
		return err
	}
	_, err = r.v.Verify(context.Background(), tok)
	return err
}

// TestRotationUnderLoad rotates the key ten times while four workers verify
// tokens signed with whatever key is current: no valid call may fail. A token
// cached under a key that is then removed must fail too.
func TestRotationUnderLoad(t *testing.T) {
	t.Parallel()
	r := newRotation(t, identity.RemoteKeysOptions{Refresh: time.Minute, MinRefresh: 10 * time.Second}, identity.VerifierOptions{})
	_, first := r.current()
	early, err := first.Mint(identity.Claims{Subject: "model:early", Audience: []string{"tools"}})
	check(err)
	if _, err := r.v.Verify(context.Background(), early); err != nil {
		t.Fatal(err)
	}
	const workers = 4
	var done [workers]atomic.Int32 // the generation each worker last finished with
	var calls, failures atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				g, i := r.current()
				if err := mintVerify(r, i); err != nil {
					failures.Add(1)
					t.Errorf("worker %d, generation %d: %v", w, g, err)
				}
				calls.Add(1)
				done[w].Store(g)
			}
		})
	}
	wait := func(gen int32) {
		for w := range workers {
			for done[w].Load() < gen {
				runtime.Gosched()
			}
		}
	}
	for range 10 {
		r.rotate(t, wait, time.Minute)
		if _, err := r.v.Verify(context.Background(), early); err == nil {
			t.Error("a cached token signed by a removed key still verifies")
		}
		// That unknown kid spent the fetch budget for unknown kids; a new key
		// is found at once only once MinRefresh has passed (publishing keys
		// ahead of signing with them avoids the wait; see RemoteKeys).
		r.s.clock.advance(10 * time.Second)
	}
	close(stop)
	wg.Wait()
	if failures.Load() > 0 || calls.Load() < workers*10 {
		t.Fatalf("%d of %d calls failed", failures.Load(), calls.Load())
	}
	t.Logf("%d calls across 10 rotations, %d JWK Set requests", calls.Load(), r.s.hits.Load())
}
