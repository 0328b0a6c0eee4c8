package identity_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/identity"
)

// exampleIssuer returns an issuer for name with a fresh key whose kid is kid.
func exampleIssuer(name, kid string) *identity.Issuer {
	key, err := identity.GenerateKey(jose.EdDSA, kid)
	if err != nil {
		panic(err)
	}
	iss, err := identity.NewIssuer(name, key, identity.IssuerOptions{Now: exampleClock})
	if err != nil {
		panic(err)
	}
	return iss
}

func exampleVerifier(iss *identity.Issuer, opts identity.VerifierOptions) *identity.Verifier {
	keys, err := identity.NewKeySet(iss.PublicKey())
	if err != nil {
		panic(err)
	}
	opts.Now = exampleClock
	v, err := identity.NewVerifier(iss.PublicKey().KeyID, "tools", keys, opts)
	if err != nil {
		panic(err)
	}
	return v
}

func mint(iss *identity.Issuer, c identity.Claims) string {
	c.Audience = []string{"tools"}
	tok, err := iss.Mint(c)
	if err != nil {
		panic(err)
	}
	return tok
}

// Verify tokens from a JWK Set endpoint. The key is fetched on first use and
// kept per the endpoint's Cache-Control.
func ExampleNewRemoteKeys() {
	iss := exampleIssuer("https://id.example.com", "k1")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		w.Header().Set("Cache-Control", "max-age=300")
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{iss.PublicKey()}})
	}))
	defer srv.Close()
	keys, err := identity.NewRemoteKeys(srv.URL, identity.RemoteKeysOptions{Now: exampleClock})
	if err != nil {
		panic(err)
	}
	v, err := identity.NewVerifier("https://id.example.com", "tools", keys, identity.VerifierOptions{Now: exampleClock})
	if err != nil {
		panic(err)
	}
	c, err := v.Verify(context.Background(), mint(iss, identity.Claims{Subject: "model:bot"}))
	fmt.Println(c.Subject, err)
	// Output: model:bot <nil>
}

// Accept two issuers, each with its own keys.
func ExampleMultiVerifier() {
	a, b := exampleIssuer("https://a.example", "https://a.example"), exampleIssuer("https://b.example", "https://b.example")
	m, err := identity.NewMultiVerifier(exampleVerifier(a, identity.VerifierOptions{}), exampleVerifier(b, identity.VerifierOptions{}))
	if err != nil {
		panic(err)
	}
	for _, tok := range []string{mint(a, identity.Claims{Subject: "from-a"}), mint(b, identity.Claims{Subject: "from-b"})} {
		c, err := m.Verify(context.Background(), tok)
		fmt.Println(c.Issuer, c.Subject, err)
	}
	// Output:
	// https://a.example from-a <nil>
	// https://b.example from-b <nil>
}

// Make tokens single-use and revoke an agent. A MemoryStore serves one
// process; the identity/postgres module shares the state between instances.
func ExampleVerifierOptions_oneTime() {
	iss := exampleIssuer("https://id.example.com", "https://id.example.com")
	store := identity.NewMemoryStore(identity.MemoryStoreOptions{Now: exampleClock})
	store.Revoke(context.Background(), identity.Revocation{Kind: identity.RevokeAgent, Issuer: "https://id.example.com",
		Value: "rogue-bot", Reason: "prompt injection incident"})
	v := exampleVerifier(iss, identity.VerifierOptions{Store: store, OneTime: true})

	tok := mint(iss, identity.Claims{Subject: "model:bot", Agent: "support-bot"})
	_, err := v.Verify(context.Background(), tok)
	fmt.Println("first use:", err)
	_, err = v.Verify(context.Background(), tok)
	fmt.Println("second use:", errors.Is(err, identity.ErrReplay))
	_, err = v.Verify(context.Background(), mint(iss, identity.Claims{Subject: "model:bot", Agent: "rogue-bot"}))
	fmt.Println("revoked agent:", errors.Is(err, identity.ErrRevoked))
	// Output:
	// first use: <nil>
	// second use: true
	// revoked agent: true
}

// Limit delegation: at most two actors, gateways and users only, and scopes
// that only narrow along the chain.
func ExampleDelegation() {
	iss := exampleIssuer("https://id.example.com", "https://id.example.com")
	v := exampleVerifier(iss, identity.VerifierOptions{Delegation: identity.Delegation{
		MaxDepth: 2, Actors: []string{"svc:*", "user:*"}, Attenuate: true,
	}})
	alice := identity.Actor{Subject: "user:alice", Scope: "tickets:read tickets:write"}
	c, err := v.Verify(context.Background(), mint(iss, identity.Claims{Subject: "model:bot", Scope: "tickets:read",
		Act: []identity.Actor{{Subject: "svc:gateway"}, alice}}))
	fmt.Println(c.ActDepth, c.Origin, err)

	_, err = v.Verify(context.Background(), mint(iss, identity.Claims{Subject: "model:bot", Scope: "payments:write",
		Act: []identity.Actor{alice}}))
	var de *identity.DelegationError
	fmt.Println(errors.As(err, &de), de.Rule)
	// Output:
	// 2 user:alice <nil>
	// true scope
}

// Verify a JWT-SVID against the bundle of its trust domain.
func ExampleNewSVIDVerifier() {
	key, _ := identity.GenerateKey(jose.ES256, "spire-jwt-1")
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "spire-jwt-1"))
	payload, _ := json.Marshal(map[string]any{"sub": "spiffe://example.org/agent/bot", "aud": []string{"tools"},
		"iat": exampleNow.Unix(), "exp": exampleNow.Unix() + 300})
	jws, _ := signer.Sign(payload)
	svid, _ := jws.CompactSerialize()

	bundle, _ := identity.NewKeySet(key.Public())
	bundles := identity.BundlesFunc(func(_ context.Context, td string) (identity.Keys, error) {
		if td != "example.org" {
			return nil, fmt.Errorf("trust domain %q: %w", td, identity.ErrIssuer)
		}
		return bundle, nil
	})
	v, _ := identity.NewSVIDVerifier("tools", bundles, identity.VerifierOptions{Now: exampleClock})
	c, err := v.Verify(context.Background(), svid)
	fmt.Println(c.SPIFFEID, c.TrustDomain, err)
	// Output: spiffe://example.org/agent/bot example.org <nil>
}

func ExampleTrustDomain() {
	fmt.Println(identity.TrustDomain("spiffe://example.org/agent/bot"))
	_, err := identity.TrustDomain("spiffe://example.org/agent/../admin")
	fmt.Println(errors.Is(err, identity.ErrMalformed))
	// Output:
	// example.org <nil>
	// true
}
