package spiffe_test

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/spiffe/go-spiffe/v2/bundle/jwtbundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/identity/spiffe"
)

// Verify JWT-SVIDs of the support agents of example.org. In production the
// bundle source would be spiffe.NewWorkloadVerifier's Workload API stream.
func ExampleNewVerifier() {
	key, _ := identity.GenerateKey(jose.ES256, "jwt-authority-1")
	td := spiffeid.RequireTrustDomainFromString("example.org")
	bundles := jwtbundle.FromJWTAuthorities(td, map[string]crypto.PublicKey{"jwt-authority-1": key.Public().Key})

	agents := spiffeid.RequireFromString("spiffe://example.org/agent/support")
	v, err := spiffe.NewVerifier(bundles, "tools", spiffeid.MatchIDPrefix(agents), identity.VerifierOptions{Now: now})
	if err != nil {
		panic(err)
	}
	for _, sub := range []string{"spiffe://example.org/agent/support/bot-1", "spiffe://example.org/agent/billing"} {
		c, err := v.Verify(context.Background(), sign(key, sub))
		if errors.Is(err, spiffe.ErrID) {
			fmt.Println(sub, "refused")
			continue
		}
		fmt.Println(c.SPIFFEID, c.TrustDomain, err)
	}
	// Output:
	// spiffe://example.org/agent/support/bot-1 example.org <nil>
	// spiffe://example.org/agent/billing refused
}

// sign makes a JWT-SVID the way SPIRE does.
func sign(key jose.JSONWebKey, sub string) string {
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", key.KeyID))
	payload, _ := json.Marshal(map[string]any{"sub": sub, "aud": "tools", "iat": t0.Unix(), "exp": t0.Unix() + 300})
	jws, _ := signer.Sign(payload)
	tok, _ := jws.CompactSerialize()
	return tok
}
