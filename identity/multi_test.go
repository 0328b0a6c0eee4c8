package identity_test

import (
	"context"
	"slices"
	"testing"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/identity/identitytest"
)

func TestMultiVerifier(t *testing.T) {
	t.Parallel()
	a := identitytest.New(t, identitytest.Options{Issuer: "https://a.test", Start: t0})
	b := identitytest.New(t, identitytest.Options{Issuer: "https://b.test", Start: t0})
	m, err := identity.NewMultiVerifier(a.Verifier(t, identity.VerifierOptions{}), b.Verifier(t, identity.VerifierOptions{}))
	check(err)
	if got := m.Issuers(); !slices.Equal(got, []string{"https://a.test", "https://b.test"}) {
		t.Errorf("Issuers = %v", got)
	}
	// A token claiming b's issuer but signed by a's key (with a's kid, or
	// with b's kid) must fail: sets are never merged.
	forged := a.Sign(t, a.Header(), with(a, func(c map[string]any) { c["iss"] = b.Issuer() }))
	forgedKid := a.Sign(t, header(a, func(h map[string]any) { h["kid"] = b.KeyID() }), with(a, func(c map[string]any) { c["iss"] = b.Issuer() }))
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"issuer a", a.Mint(t, identity.Claims{}), nil},
		{"issuer b", b.Mint(t, identity.Claims{}), nil},
		{"issuer a again (cached)", a.Mint(t, identity.Claims{ID: "x"}), nil},
		{"a's key, b's iss", forged, identity.ErrUnknownKey},
		{"a's key, b's kid and iss", forgedKid, identity.ErrSignature},
		{"unknown issuer", a.Sign(t, a.Header(), with(a, func(c map[string]any) { c["iss"] = "https://c.test" })), identity.ErrIssuer},
		{"no iss", a.MissingClaim(t, "iss"), identity.ErrMissingClaim},
		{"iss number", a.Sign(t, a.Header(), with(a, func(c map[string]any) { c["iss"] = 1 })), identity.ErrMalformed},
		{"not a token", "x.y", identity.ErrMalformed},
		{"broken b", b.Expired(t), identity.ErrExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for range 2 {
				c, err := m.Verify(context.Background(), tt.token)
				if tt.want != nil {
					wantOnly(t, err, tt.want)
					continue
				}
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				if c.Issuer == "" {
					t.Fatal("no issuer")
				}
			}
		})
	}
}

func TestNewMultiVerifierRejects(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	v := k.Verifier(t, identity.VerifierOptions{})
	svid, err := identity.NewSVIDVerifier("a", identity.BundlesFunc(nil), identity.VerifierOptions{})
	check(err)
	for name, vs := range map[string][]*identity.Verifier{
		"none": nil, "nil": {nil}, "twice": {v, v}, "SVID verifier": {v, svid},
	} {
		if _, err := identity.NewMultiVerifier(vs...); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			wantOnly(t, err, identity.ErrConfig)
		}
	}
}
