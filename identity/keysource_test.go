package identity_test

import (
	"context"
	"errors"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/identity"
)

// keysFunc adapts a function to identity.Keys.
type keysFunc func(kid string) (*jose.JSONWebKey, error)

func (f keysFunc) Key(_ context.Context, kid string) (*jose.JSONWebKey, error) { return f(kid) }

func TestVerifyKeySourceChecks(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	tk := keysOnce()
	kitPub := k.Keys().Keys()[0]
	noAlg := kitPub
	noAlg.Algorithm = ""
	down := errors.New("jwks endpoint down")
	rsaAll := []jose.SignatureAlgorithm{jose.EdDSA, jose.RS256, jose.PS256}
	hdr := func(alg string) string {
		return k.Sign(t, header(k, func(h map[string]any) { h["alg"] = alg }), k.ClaimSet())
	}
	tests := []struct {
		name  string
		key   *jose.JSONWebKey
		err   error
		algs  []jose.SignatureAlgorithm
		token string
		want  error
	}{
		{"key without alg does not fit", &noAlg, nil, nil, hdr("ES256"), identity.ErrAlgorithm},
		{"key alg differs, type fits", &jose.JSONWebKey{Key: tk.rsa2048.Public(), Algorithm: "PS256"}, nil, rsaAll, hdr("RS256"), identity.ErrAlgorithm},
		{"RSA 1024 from source", &jose.JSONWebKey{Key: tk.rsa1k.Public()}, nil, rsaAll, hdr("RS256"), identity.ErrAlgorithm},
		{"private key from source", &jose.JSONWebKey{Key: tk.ed, Algorithm: "EdDSA"}, nil, nil, k.Mint(t, identity.Claims{}), identity.ErrKeySet},
		{"symmetric key from source", &jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef")}, nil, nil, k.Mint(t, identity.Claims{}), identity.ErrKeySet},
		{"nil key and nil error", nil, nil, nil, k.Mint(t, identity.Claims{}), identity.ErrUnknownKey},
		{"source error", nil, down, nil, k.Mint(t, identity.Claims{}), down},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := keysFunc(func(string) (*jose.JSONWebKey, error) { return tt.key, tt.err })
			v, err := identity.NewVerifier(k.Issuer(), k.Audience(), src, identity.VerifierOptions{Algorithms: tt.algs, Now: k.Now})
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Verify(context.Background(), tt.token)
			wantOnly(t, err, tt.want)
		})
	}
}

// TestVerifyAlgorithms mints with each supported key type and checks that RSA
// tokens need an explicit opt-in.
func TestVerifyAlgorithms(t *testing.T) {
	t.Parallel()
	tk := keysOnce()
	now := func() time.Time { return t0 }
	tests := []struct {
		name string
		key  jose.JSONWebKey
		algs []jose.SignatureAlgorithm
		want error
	}{
		{"EdDSA default", jwk(tk.ed, "k", "", ""), nil, nil},
		{"ES256 default", jwk(tk.p256, "k", "", ""), nil, nil},
		{"ES256 not enabled", jwk(tk.p256, "k", "", ""), []jose.SignatureAlgorithm{jose.EdDSA}, identity.ErrAlgorithm},
		{"RS256 default refused", jwk(tk.rsa2048, "k", "RS256", ""), nil, identity.ErrAlgorithm},
		{"RS256 opted in", jwk(tk.rsa2048, "k", "RS256", ""), []jose.SignatureAlgorithm{jose.RS256}, nil},
		{"PS256 opted in", jwk(tk.rsa2048, "k", "PS256", ""), []jose.SignatureAlgorithm{jose.PS256}, nil},
		{"PS256 with only RS256", jwk(tk.rsa2048, "k", "PS256", ""), []jose.SignatureAlgorithm{jose.RS256}, identity.ErrAlgorithm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			iss, err := identity.NewIssuer("https://i", tt.key, identity.IssuerOptions{Now: now})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := iss.Mint(identity.Claims{Subject: "s", Audience: []string{"a"}})
			if err != nil {
				t.Fatal(err)
			}
			keys, err := identity.NewKeySet(iss.PublicKey())
			if err != nil {
				t.Fatal(err)
			}
			v, err := identity.NewVerifier("https://i", "a", keys, identity.VerifierOptions{Algorithms: tt.algs, Now: now})
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Verify(context.Background(), tok)
			if tt.want == nil && err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if tt.want != nil {
				wantOnly(t, err, tt.want)
			}
		})
	}
}

func TestNilKeySet(t *testing.T) {
	t.Parallel()
	var s *identity.KeySet
	_, err := s.Key(context.Background(), "k")
	wantOnly(t, err, identity.ErrUnknownKey)
	if s.Keys() != nil {
		t.Error("nil set has keys")
	}
	_, err = identity.NewVerifier("i", "a", s, identity.VerifierOptions{})
	wantOnly(t, err, identity.ErrConfig)
}
