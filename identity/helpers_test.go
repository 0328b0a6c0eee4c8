package identity_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/identity/identitytest"
)

// t0 is the kit clock's start in every test.
var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// rejections are the sentinels Verify may wrap; a rejection wraps exactly one.
var rejections = []error{
	identity.ErrMalformed, identity.ErrTooLarge, identity.ErrAlgorithm, identity.ErrHeader,
	identity.ErrType, identity.ErrUnknownKey, identity.ErrSignature, identity.ErrIssuer,
	identity.ErrAudience, identity.ErrExpired, identity.ErrNotYetValid,
	identity.ErrIssuedInFuture, identity.ErrLifetime, identity.ErrMissingClaim,
	identity.ErrKeySet, identity.ErrConfig, identity.ErrDelegation, identity.ErrRevoked,
	identity.ErrReplay, identity.ErrStore, identity.ErrKeysUnavailable,
}

// wantOnly fails t unless err wraps want and no other sentinel.
func wantOnly(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v\nwant it to wrap %v", err, want)
	}
	for _, s := range rejections {
		if s != want && errors.Is(err, s) {
			t.Errorf("err = %v\nalso wraps %v", err, s)
		}
	}
}

// newKit returns a kit whose clock starts at t0.
func newKit(tb testing.TB) *identitytest.Kit {
	tb.Helper()
	return identitytest.New(tb, identitytest.Options{Start: t0})
}

// verify runs a fresh verifier from k with opts on token.
func verify(t *testing.T, k *identitytest.Kit, opts identity.VerifierOptions, token string) (*identity.Claims, error) {
	t.Helper()
	return k.Verifier(t, opts).Verify(context.Background(), token)
}

// with returns the kit's valid claim set changed by f.
func with(k *identitytest.Kit, f func(c map[string]any)) map[string]any {
	c := k.ClaimSet()
	f(c)
	return c
}

// header returns the kit's valid header changed by f.
func header(k *identitytest.Kit, f func(h map[string]any)) map[string]any {
	h := k.Header()
	f(h)
	return h
}
