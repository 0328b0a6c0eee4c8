package identity_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/identity/identitytest"
)

// trustDomains is a Bundles over kits: one kit (one key) per trust domain.
func trustDomains(kits map[string]*identitytest.Kit) identity.Bundles {
	return identity.BundlesFunc(func(_ context.Context, td string) (identity.Keys, error) {
		k, ok := kits[td]
		if !ok {
			return nil, fmt.Errorf("no bundle for %q: %w", td, identity.ErrIssuer)
		}
		return k.Keys(), nil
	})
}

// svid returns a JWT-SVID claim set for sub, as SPIRE issues them: no iss,
// no jti, typ JWT.
func svid(k *identitytest.Kit, sub string) (map[string]any, map[string]any) {
	now := k.Now().Unix()
	return header(k, func(h map[string]any) { h["typ"] = "JWT" }),
		map[string]any{"sub": sub, "aud": []string{"tools"}, "iat": now, "exp": now + 300}
}

func TestSVIDVerifier(t *testing.T) {
	t.Parallel()
	a, b := newKit(t), newKit(t)
	bundles := trustDomains(map[string]*identitytest.Kit{"a.test": a, "b.test": b})
	const id = "spiffe://a.test/agent/bot"
	h, c := svid(a, id)
	edit := func(f func(h, c map[string]any)) string {
		h, c := svid(a, id)
		f(h, c)
		return a.Sign(t, h, c)
	}
	tests := []struct {
		name  string
		token string
		opts  identity.VerifierOptions
		want  error
	}{
		{"SPIRE shape", a.Sign(t, h, c), identity.VerifierOptions{}, nil},
		{"no typ", edit(func(h, _ map[string]any) { delete(h, "typ") }), identity.VerifierOptions{}, nil},
		{"typ JOSE", edit(func(h, _ map[string]any) { h["typ"] = "JOSE" }), identity.VerifierOptions{}, nil},
		{"no iat", edit(func(_, c map[string]any) { delete(c, "iat") }), identity.VerifierOptions{}, nil},
		{"iss present, ignored", edit(func(_, c map[string]any) { c["iss"] = "https://spire" }), identity.VerifierOptions{}, nil},
		{"typ mg+jwt", edit(func(h, _ map[string]any) { h["typ"] = "mg+jwt" }), identity.VerifierOptions{}, identity.ErrType},
		{"typ required by option", edit(func(h, _ map[string]any) { delete(h, "typ") }), identity.VerifierOptions{Type: "JWT"}, identity.ErrType},
		{"other audience", edit(func(_, c map[string]any) { c["aud"] = "other" }), identity.VerifierOptions{}, identity.ErrAudience},
		{"no exp", edit(func(_, c map[string]any) { delete(c, "exp") }), identity.VerifierOptions{}, identity.ErrMissingClaim},
		{"no sub", edit(func(_, c map[string]any) { delete(c, "sub") }), identity.VerifierOptions{}, identity.ErrMissingClaim},
		{"sub not SPIFFE", edit(func(_, c map[string]any) { c["sub"] = "https://a.test/bot" }), identity.VerifierOptions{}, identity.ErrMalformed},
		{"sub number", edit(func(_, c map[string]any) { c["sub"] = 7 }), identity.VerifierOptions{}, identity.ErrMalformed},
		{"untrusted domain", edit(func(_, c map[string]any) { c["sub"] = "spiffe://c.test/bot" }), identity.VerifierOptions{}, identity.ErrIssuer},
		{"a's key for b's workload", edit(func(_, c map[string]any) { c["sub"] = "spiffe://b.test/bot" }), identity.VerifierOptions{}, identity.ErrUnknownKey},
		{"no iat, too long", edit(func(_, c map[string]any) { delete(c, "iat"); c["exp"] = a.Now().Add(2 * time.Hour).Unix() }), identity.VerifierOptions{}, identity.ErrLifetime},
		{"one-time needs jti", a.Sign(t, h, c), identity.VerifierOptions{Store: identity.NewMemoryStore(identity.MemoryStoreOptions{}), OneTime: true}, identity.ErrMissingClaim},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.opts.Now = a.Now
			v, err := identity.NewSVIDVerifier("tools", bundles, tt.opts)
			check(err)
			got, err := v.Verify(context.Background(), tt.token)
			if tt.want != nil {
				wantOnly(t, err, tt.want)
				return
			}
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if got.SPIFFEID != id || got.TrustDomain != "a.test" || v.Issuer() != "" {
				t.Errorf("claims %+v", got)
			}
		})
	}
}

// TestSVIDRevocation revokes a workload under its trust domain's namespace.
func TestSVIDRevocation(t *testing.T) {
	t.Parallel()
	a := newKit(t)
	s := identity.NewMemoryStore(identity.MemoryStoreOptions{Now: a.Now})
	v, err := identity.NewSVIDVerifier("tools", trustDomains(map[string]*identitytest.Kit{"a.test": a}), identity.VerifierOptions{Now: a.Now, Store: s})
	check(err)
	h, c := svid(a, "spiffe://a.test/bot")
	tok := a.Sign(t, h, c)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	check(s.Revoke(context.Background(), identity.Revocation{Kind: identity.RevokeSubject, Issuer: "spiffe://a.test", Value: "spiffe://a.test/bot"}))
	a.Advance(identity.DefaultRevocationInterval)
	_, err = v.Verify(context.Background(), tok)
	wantOnly(t, err, identity.ErrRevoked)
}

func TestNewSVIDVerifierRejects(t *testing.T) {
	t.Parallel()
	_, err := identity.NewSVIDVerifier("", nil, identity.VerifierOptions{Algorithms: []jose.SignatureAlgorithm{jose.HS256}})
	if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n != 3 {
		t.Errorf("%d problems, want 3: %v", n, err)
	}
}

func TestTrustDomain(t *testing.T) {
	t.Parallel()
	tests := []struct{ id, td string }{
		{"spiffe://example.org", "example.org"},
		{"spiffe://example.org/a/b-c_d.e", "example.org"},
		{"spiffe://a_b-c.9/X", "a_b-c.9"},
		{"spiffe://", ""},
		{"spiffe://Example.org/a", ""},
		{"SPIFFE://example.org/a", ""},
		{"https://example.org/a", ""},
		{"spiffe://example.org/", ""},
		{"spiffe://example.org//a", ""},
		{"spiffe://example.org/a/", ""},
		{"spiffe://example.org/./a", ""},
		{"spiffe://example.org/a/..", ""},
		{"spiffe://example.org:8443/a", ""},
		{"spiffe://user@example.org/a", ""},
		{"spiffe://example.org/a?b", ""},
		{"spiffe://example.org/a#b", ""},
		{"spiffe://example.org/a%20b", ""},
		{"spiffe://example.org/ä", ""},
		{"spiffe://" + strings.Repeat("a", 256), ""},
		{"spiffe://a/" + strings.Repeat("b", 2048), ""},
	}
	for _, tt := range tests {
		td, err := identity.TrustDomain(tt.id)
		if tt.td == "" {
			wantOnly(t, err, identity.ErrMalformed)
			continue
		}
		if err != nil || td != tt.td {
			t.Errorf("TrustDomain(%.40q) = %q, %v; want %q", tt.id, td, err, tt.td)
		}
	}
}
