package identitytest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/identity/identitytest"
)

var start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestBrokenTokensRejected(t *testing.T) {
	t.Parallel()
	k := identitytest.New(t, identitytest.Options{Start: start})
	v := k.Verifier(t, identity.VerifierOptions{})
	broken := k.Broken(t)
	if len(broken) < 12+len(identitytest.ForbiddenHeaders)+len(identitytest.RequiredClaims) {
		t.Fatalf("only %d broken tokens", len(broken))
	}
	for _, b := range broken {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			_, err := v.Verify(context.Background(), b.Token)
			if !errors.Is(err, b.Err) {
				t.Fatalf("err = %v, want %v", err, b.Err)
			}
		})
	}
}

func TestMint(t *testing.T) {
	t.Parallel()
	k := identitytest.New(t, identitytest.Options{Issuer: "https://me", Audience: "tools", Start: start})
	c, err := k.Verifier(t, identity.VerifierOptions{}).Verify(context.Background(), k.Mint(t, identity.Claims{Agent: "bot"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.Issuer != "https://me" || c.Subject != identitytest.DefaultSubject || c.Audience[0] != "tools" ||
		c.Agent != "bot" || !c.IssuedAt.Equal(start) || k.Issuer() != "https://me" || k.Audience() != "tools" {
		t.Errorf("claims = %+v", c)
	}
}

func TestSignedByHandVerifies(t *testing.T) {
	t.Parallel()
	k := identitytest.New(t, identitytest.Options{})
	if _, err := k.Verifier(t, identity.VerifierOptions{}).Verify(context.Background(), k.Sign(t, k.Header(), k.ClaimSet())); err != nil {
		t.Fatal(err)
	}
}

func TestClock(t *testing.T) {
	t.Parallel()
	k := identitytest.New(t, identitytest.Options{Start: start})
	v := k.Verifier(t, identity.VerifierOptions{})
	tok := k.Mint(t, identity.Claims{})
	k.Advance(identity.DefaultTTL + identity.DefaultLeeway)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("at the edge: %v", err)
	}
	k.Advance(time.Second)
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, identity.ErrExpired) {
		t.Fatalf("past the edge: %v", err)
	}
	if want := start.Add(identity.DefaultTTL + identity.DefaultLeeway + time.Second); !k.Now().Equal(want) {
		t.Errorf("Now = %v, want %v", k.Now(), want)
	}
}

func TestDefaultStartIsWallClock(t *testing.T) {
	t.Parallel()
	k := identitytest.New(t, identitytest.Options{})
	if d := time.Since(k.Now()); d < 0 || d > time.Minute {
		t.Errorf("clock starts %v from the wall clock", d)
	}
}
