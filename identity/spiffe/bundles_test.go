package spiffe_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/spiffe/go-spiffe/v2/bundle/jwtbundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/identity/spiffe"
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

// TestBundleUpdates mutates the bundle in place, as a source may: a removed
// authority stops verifying at once, cached tokens included, and an added
// one starts.
func TestBundleUpdates(t *testing.T) {
	t.Parallel()
	a1, a2 := newAuthority(t, "example.org", "a1"), newAuthority(t, "example.org", "a2")
	b := bundle(a1)
	v, err := spiffe.NewVerifier(b, "tools", spiffeid.MatchAny(), identity.VerifierOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	old, next := a1.svid(t, bot, "tools"), a2.svid(t, bot, "tools")
	if _, err := v.Verify(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	if err := b.AddJWTAuthority("a2", a2.key.Public().Key); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), next); err != nil {
		t.Fatalf("new authority: %v", err)
	}
	b.RemoveJWTAuthority("a1")
	if _, err := v.Verify(context.Background(), old); !errors.Is(err, identity.ErrUnknownKey) {
		t.Fatalf("removed authority: %v, want ErrUnknownKey", err)
	}
}

// TestWeakBundleRefused puts a P-384 key in a bundle: the whole bundle is
// refused, not loaded in part.
func TestWeakBundleRefused(t *testing.T) {
	t.Parallel()
	a := newAuthority(t, "example.org", "a1")
	b := bundle(a)
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.AddJWTAuthority("weak", p384.Public()); err != nil {
		t.Fatal(err)
	}
	v, err := spiffe.NewVerifier(b, "tools", spiffeid.MatchAny(), identity.VerifierOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), a.svid(t, bot, "tools")); !errors.Is(err, identity.ErrKeySet) {
		t.Fatalf("err = %v, want ErrKeySet", err)
	}
}

func workloadapiAddr(addr string) workloadapi.ClientOption { return workloadapi.WithAddr(addr) }

// FuzzBundle parses arbitrary SPIFFE bundle documents (JWK Sets with
// spiffe_sequence and spiffe_refresh_hint) with go-spiffe and converts them:
// a refused bundle wraps ErrKeySet, an accepted one holds only public keys
// with unique kids.
func FuzzBundle(f *testing.F) {
	a := newAuthority(f, "example.org", "a1")
	doc, err := bundle(a).Marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(doc)
	pub, _ := json.Marshal(a.key.Public())
	f.Add([]byte(`{"keys":[` + string(pub) + `],"spiffe_sequence":1}`))
	f.Add([]byte(`{"keys":[{"kty":"oct","kid":"s","k":"AAAA","use":"jwt-svid"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","kid":"r","n":"AQAB","e":"AQAB","use":"jwt-svid"}]}`))
	f.Add([]byte(`{"keys":[]}`))
	td := spiffeid.RequireTrustDomainFromString("example.org")
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := jwtbundle.Parse(td, data)
		if err != nil {
			return
		}
		set, err := spiffe.KeySet(b)
		if err != nil {
			if !errors.Is(err, identity.ErrKeySet) {
				t.Fatalf("refusal wraps no sentinel: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, k := range set.Keys() {
			if !k.IsPublic() || k.KeyID == "" || seen[k.KeyID] {
				t.Fatalf("accepted key %+v", k)
			}
			seen[k.KeyID] = true
		}
	})
}
