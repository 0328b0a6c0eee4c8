package identity_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/identity"
)

// FuzzVerify feeds arbitrary strings, seeded with valid and broken tokens, to a
// verifier. It must never panic, every rejection must wrap a sentinel, and
// anything accepted must satisfy every check.
func FuzzVerify(f *testing.F) {
	k := newKit(f)
	f.Add(k.Mint(f, identity.Claims{}))
	f.Add(k.Mint(f, identity.Claims{Agent: "a", Scopes: []string{"x", "y"}, Act: []identity.Actor{{Subject: "u"}}}))
	for _, b := range k.Broken(f) {
		f.Add(b.Token)
	}
	for _, s := range []string{"", ".", "..", "...", "a.b.c", "{}", "e30.e30.", "e30.e30.e30"} {
		f.Add(s)
	}
	v := k.Verifier(f, identity.VerifierOptions{})
	now := k.Now()
	f.Fuzz(func(t *testing.T, token string) {
		c, err := v.Verify(context.Background(), token)
		if err != nil {
			if !slices.ContainsFunc(rejections, func(s error) bool { return errors.Is(err, s) }) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		switch {
		case c.Issuer != k.Issuer():
			t.Fatalf("accepted issuer %q", c.Issuer)
		case !slices.Contains(c.Audience, k.Audience()):
			t.Fatalf("accepted audience %q", c.Audience)
		case c.Subject == "" || c.ID == "":
			t.Fatalf("accepted without sub or jti: %+v", c)
		case now.After(c.Expiry.Add(identity.DefaultLeeway)) || c.IssuedAt.After(now.Add(identity.DefaultLeeway)):
			t.Fatalf("accepted outside its time window: %+v", c)
		case c.Expiry.Sub(c.IssuedAt) > identity.DefaultMaxLifetime:
			t.Fatalf("accepted lifetime %s", c.Expiry.Sub(c.IssuedAt))
		case !canonicalToken(token):
			t.Fatalf("accepted a non-canonical spelling: %q", token)
		}
	})
}

// canonicalToken reports whether every segment re-encodes to itself.
func canonicalToken(tok string) bool {
	for _, s := range strings.Split(tok, ".") {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || base64.RawURLEncoding.EncodeToString(b) != s {
			return false
		}
	}
	return true
}

// FuzzParseKeySet feeds arbitrary documents to ParseKeySet. A refusal must wrap
// ErrKeySet; an accepted set must hold only public keys with unique kids and
// survive a round trip.
func FuzzParseKeySet(f *testing.F) {
	k := newKit(f)
	doc, err := json.Marshal(k.Keys())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(doc)
	for _, s := range []string{
		`{"keys":[]}`, `{}`, `[]`, `null`, `{"keys":null}`,
		`{"keys":[{"kty":"oct","kid":"s","k":"AAAA"}]}`,
		`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`,
		`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}]}`,
		`{"keys":[{"kty":"EC","crv":"P-256","kid":"e","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}`,
		`{"keys":[{"kty":"RSA","kid":"r","n":"AQAB","e":"AQAB"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := identity.ParseKeySet(data)
		if err != nil {
			if s != nil || !errors.Is(err, identity.ErrKeySet) {
				t.Fatalf("refusal %v with set %v", err, s)
			}
			return
		}
		seen := map[string]bool{}
		for _, key := range s.Keys() {
			if !key.IsPublic() || key.KeyID == "" || seen[key.KeyID] {
				t.Fatalf("accepted key %+v", key)
			}
			seen[key.KeyID] = true
		}
		out, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if again, err := identity.ParseKeySet(out); err != nil || len(again.Keys()) != len(seen) {
			t.Fatalf("round trip: %v", err)
		}
	})
}
