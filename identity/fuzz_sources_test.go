package identity_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/identity/identitytest"
)

// FuzzJWKSDocument feeds arbitrary documents through the checks a RemoteKeys
// applies to a fetched JWK Set. A refusal leaves no set; an accepted set holds
// only public keys with unique kids.
func FuzzJWKSDocument(f *testing.F) {
	k := newKit(f)
	doc, err := json.Marshal(k.Keys())
	check(err)
	f.Add(doc, "application/jwk-set+json")
	f.Add(doc, "application/json; charset=utf-8")
	f.Add(doc, "text/html")
	f.Add([]byte(`{"keys":[{"kty":"oct","kid":"s","k":"AAAA"}]}`), "application/json")
	f.Add([]byte(`{"keys":[`), "application/json")
	f.Fuzz(func(t *testing.T, body []byte, ctype string) {
		set, err := identity.AcceptJWKS(body, ctype)
		if err != nil {
			if set != nil {
				t.Fatalf("refusal %v with a set", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, key := range set.Keys() {
			if !key.IsPublic() || key.KeyID == "" || seen[key.KeyID] {
				t.Fatalf("accepted key %+v", key)
			}
			seen[key.KeyID] = true
		}
	})
}

// FuzzCacheControl checks that any header yields a max-age in range.
func FuzzCacheControl(f *testing.F) {
	for _, s := range []string{"max-age=60", "no-store", "max-age=1, max-age=2", `max-age="5"`, "max-age=99999999999999999999", "MAX-AGE = 3", ",,,", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		age, _, ok := identity.CacheControl(v)
		if age < 0 || age > (1<<31-1)*time.Second || (!ok && age != 0 && strings.Count(strings.ToLower(v), "max-age") < 2) {
			t.Fatalf("CacheControl(%q) = %s, %v", v, age, ok)
		}
	})
}

// FuzzTrustDomain checks the SPIFFE ID parser: an accepted ID names its
// trust domain as a prefix, within the limits of the specification.
func FuzzTrustDomain(f *testing.F) {
	for _, s := range []string{"spiffe://example.org/a/b", "spiffe://example.org", "spiffe://Example.org", "spiffe://a/../b", "spiffe://a//b", "spiffe://a/b/", "spiffe://a:1/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		td, err := identity.TrustDomain(id)
		if err != nil {
			if !errors.Is(err, identity.ErrMalformed) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		rest, _ := strings.CutPrefix(id, "spiffe://"+td)
		switch {
		case td == "" || len(td) > 255 || len(id) > 2048:
			t.Fatalf("accepted %q with trust domain %q", id, td)
		case rest != "" && (rest[0] != '/' || strings.HasSuffix(rest, "/") || strings.Contains(rest, "//")):
			t.Fatalf("accepted path %q", rest)
		case strings.ContainsAny(id[len("spiffe://"):], "?#%@: \x00\\"):
			t.Fatalf("accepted %q", id)
		}
	})
}

// FuzzMultiVerifier feeds arbitrary tokens to a two-issuer verifier: every
// rejection wraps a sentinel, and an accepted token belongs to one of them.
func FuzzMultiVerifier(f *testing.F) {
	a := identitytest.New(f, identitytest.Options{Issuer: "https://a.test", Start: t0})
	b := identitytest.New(f, identitytest.Options{Issuer: "https://b.test", Start: t0})
	f.Add(a.Mint(f, identity.Claims{}))
	f.Add(b.Mint(f, identity.Claims{}))
	f.Add(a.Sign(f, a.Header(), with(a, func(c map[string]any) { c["iss"] = b.Issuer() })))
	for _, s := range []string{"", "a.b.c", "e30.e30.e30", "eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2EudGVzdCJ9."} {
		f.Add(s)
	}
	m, err := identity.NewMultiVerifier(a.Verifier(f, identity.VerifierOptions{}), b.Verifier(f, identity.VerifierOptions{}))
	check(err)
	f.Fuzz(func(t *testing.T, token string) {
		c, err := m.Verify(context.Background(), token)
		if err != nil {
			if !slices.ContainsFunc(rejections, func(s error) bool { return errors.Is(err, s) }) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		if c.Issuer != a.Issuer() && c.Issuer != b.Issuer() {
			t.Fatalf("accepted issuer %q", c.Issuer)
		}
	})
}
