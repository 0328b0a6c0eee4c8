package spiffe_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/spiffe/go-spiffe/v2/bundle/jwtbundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/identity/spiffe"
)

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
