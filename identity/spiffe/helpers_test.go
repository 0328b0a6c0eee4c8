package spiffe_test

import (
	"crypto"
	"encoding/json"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/spiffe/go-spiffe/v2/bundle/jwtbundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/modelguard/modelguard/identity"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func now() time.Time { return t0 }

// authority is a JWT signing key of a trust domain, as SPIRE holds one.
type authority struct {
	td  spiffeid.TrustDomain
	key jose.JSONWebKey
}

func newAuthority(t testing.TB, td, kid string) authority {
	t.Helper()
	k, err := identity.GenerateKey(jose.ES256, kid)
	if err != nil {
		t.Fatal(err)
	}
	return authority{td: spiffeid.RequireTrustDomainFromString(td), key: k}
}

// bundle returns a bundle holding the public keys of as.
func bundle(as ...authority) *jwtbundle.Bundle {
	m := map[string]crypto.PublicKey{}
	for _, a := range as {
		m[a.key.KeyID] = a.key.Public().Key
	}
	return jwtbundle.FromJWTAuthorities(as[0].td, m)
}

// svid signs a JWT-SVID for sub and aud as SPIRE does: ES256, kid, typ JWT,
// sub, aud, iat, exp.
func (a authority) svid(t testing.TB, sub string, aud ...string) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: a.key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", a.key.KeyID))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(map[string]any{"sub": sub, "aud": aud, "iat": t0.Unix(), "exp": t0.Add(5 * time.Minute).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
