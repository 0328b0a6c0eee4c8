package identity_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/modelguard/modelguard/identity"
)

// benchSetup mints one realistic token for alg and returns it with the public
// key and a fixed clock.
func benchSetup(b *testing.B, alg jose.SignatureAlgorithm) (string, jose.JSONWebKey, func() time.Time) {
	b.Helper()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	key, err := benchKey(alg)
	if err != nil {
		b.Fatal(err)
	}
	iss, err := identity.NewIssuer("https://issuer.test", key, identity.IssuerOptions{Now: clock})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := iss.Mint(identity.Claims{
		Subject: "model:support-bot", Audience: []string{"tools"},
		Model: identity.Model{Provider: "anthropic", Name: "claude", Version: "4"},
		Agent: "support-bot", Tenant: "acme", Env: "prod",
		Scopes: []string{"tickets:read", "tickets:write"},
		Act:    []identity.Actor{{Subject: "user:alice", Issuer: "https://idp.test"}},
	})
	if err != nil {
		b.Fatal(err)
	}
	return tok, iss.PublicKey(), clock
}

var benchAlgs = []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256, jose.RS256}

// benchKey returns a signing key for alg; RSA keys are 2048 bits.
func benchKey(alg jose.SignatureAlgorithm) (jose.JSONWebKey, error) {
	if alg != jose.RS256 {
		return identity.GenerateKey(alg, "bench")
	}
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	return jose.JSONWebKey{Key: k, KeyID: "bench", Algorithm: string(alg), Use: "sig"}, err
}

func benchVerifier(b *testing.B, pub jose.JSONWebKey, clock func() time.Time, cacheSize int) *identity.Verifier {
	b.Helper()
	ks, err := identity.NewKeySet(pub)
	if err != nil {
		b.Fatal(err)
	}
	v, err := identity.NewVerifier("https://issuer.test", "tools", ks, identity.VerifierOptions{Now: clock, CacheSize: cacheSize, Algorithms: benchAlgs})
	if err != nil {
		b.Fatal(err)
	}
	return v
}

// BenchmarkVerifyCold is a full verification on every call (cache disabled).
func BenchmarkVerifyCold(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(string(alg), func(b *testing.B) {
			tok, pub, clock := benchSetup(b, alg)
			v := benchVerifier(b, pub, clock, -1)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(ctx, tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRawGoJOSE is the minimal equivalent done with go-jose alone, the
// yardstick for BenchmarkVerifyCold.
func BenchmarkRawGoJOSE(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(string(alg), func(b *testing.B) {
			tok, pub, clock := benchSetup(b, alg)
			exp := jwt.Expected{Issuer: "https://issuer.test", AnyAudience: jwt.Audience{"tools"}, Time: clock()}
			b.ReportAllocs()
			for b.Loop() {
				t, err := jwt.ParseSigned(tok, benchAlgs)
				if err != nil {
					b.Fatal(err)
				}
				var c jwt.Claims
				if err := t.Claims(pub.Key, &c); err != nil {
					b.Fatal(err)
				}
				if err := c.ValidateWithLeeway(exp, identity.DefaultLeeway); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerifyCached is the hot path: the same token verified again.
func BenchmarkVerifyCached(b *testing.B) {
	tok, pub, clock := benchSetup(b, jose.EdDSA)
	v := benchVerifier(b, pub, clock, 0)
	ctx := context.Background()
	if _, err := v.Verify(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyCachedParallel is the hot path under contention.
func BenchmarkVerifyCachedParallel(b *testing.B) {
	tok, pub, clock := benchSetup(b, jose.EdDSA)
	v := benchVerifier(b, pub, clock, 0)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := v.Verify(context.Background(), tok); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkVerifyReject measures how cheaply hostile and broken tokens are
// turned away.
func BenchmarkVerifyReject(b *testing.B) {
	tok, pub, clock := benchSetup(b, jose.EdDSA)
	ks, err := identity.NewKeySet(pub)
	if err != nil {
		b.Fatal(err)
	}
	v, err := identity.NewVerifier("https://issuer.test", "tools", ks, identity.VerifierOptions{Now: clock, MaxTokenSize: 2 << 20})
	if err != nil {
		b.Fatal(err)
	}
	seg := segmentsOf(tok)
	sig, _ := base64.RawURLEncoding.DecodeString(seg[2])
	sig[0] ^= 1
	flipped := seg[0] + "." + seg[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
	cases := []struct{ name, token string }{
		{"megabyte", strings.Repeat("a", 4<<20)},
		{"million-dots", strings.Repeat(".", 1<<20)},
		{"alg-none", "eyJhbGciOiJub25lIiwia2lkIjoiYmVuY2giLCJ0eXAiOiJtZytqd3QifQ." + segmentsOf(tok)[1] + "."},
		{"bad-signature", flipped},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := v.Verify(context.Background(), c.token); err == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}

func segmentsOf(tok string) []string { return strings.SplitN(tok, ".", 3) }

// BenchmarkVerifyRotating is cold verification throughput (cache off, two
// goroutines) against a RemoteKeys whose JWK Set, on a loopback TLS server,
// rotates every 2000 calls: each rotation publishes a new key, switches the
// token to it (one forced fetch), then retires the old key (one scheduled
// fetch). Compare with BenchmarkVerifyCold/EdDSA.
func BenchmarkVerifyRotating(b *testing.B) {
	r := newRotation(b, identity.RemoteKeysOptions{Refresh: time.Minute, MinRefresh: 10 * time.Second}, identity.VerifierOptions{CacheSize: -1})
	var n atomic.Int64
	var tok atomic.Pointer[string]
	mint := func() {
		_, i := r.current()
		t, err := i.Mint(identity.Claims{Subject: "model:w", Audience: []string{"tools"}})
		check(err)
		tok.Store(&t)
	}
	mint()
	var mu sync.Mutex
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if n.Add(1)%2000 == 0 && mu.TryLock() {
				r.rotate(b, func(int32) { mint() }, time.Minute)
				r.s.clock.advance(10 * time.Second)
				mu.Unlock()
			}
			if _, err := r.v.Verify(context.Background(), *tok.Load()); err != nil && !errors.Is(err, identity.ErrUnknownKey) {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(r.s.hits.Load()), "jwks-requests")
}

// BenchmarkColdVsRaw alternates a cold Verify and the raw go-jose equivalent
// of BenchmarkRawGoJOSE on every iteration and reports each one's time and
// their ratio, so that load from other processes weighs on both alike.
func BenchmarkColdVsRaw(b *testing.B) {
	for _, alg := range benchAlgs {
		b.Run(string(alg), func(b *testing.B) {
			tok, pub, clock := benchSetup(b, alg)
			v := benchVerifier(b, pub, clock, -1)
			exp := jwt.Expected{Issuer: "https://issuer.test", AnyAudience: jwt.Audience{"tools"}, Time: clock()}
			var ours, raw time.Duration
			for b.Loop() {
				t0 := time.Now()
				if _, err := v.Verify(context.Background(), tok); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				rawVerify(b, tok, pub, exp)
				ours, raw = ours+t1.Sub(t0), raw+time.Since(t1)
			}
			b.ReportMetric(float64(ours.Nanoseconds())/float64(b.N), "modelguard-ns/op")
			b.ReportMetric(float64(raw.Nanoseconds())/float64(b.N), "go-jose-ns/op")
			b.ReportMetric(float64(ours)/float64(raw), "ratio")
		})
	}
}

func rawVerify(b *testing.B, tok string, pub jose.JSONWebKey, exp jwt.Expected) {
	t, err := jwt.ParseSigned(tok, benchAlgs)
	if err != nil {
		b.Fatal(err)
	}
	var c jwt.Claims
	if err := t.Claims(pub.Key, &c); err != nil {
		b.Fatal(err)
	}
	if err := c.ValidateWithLeeway(exp, identity.DefaultLeeway); err != nil {
		b.Fatal(err)
	}
}
