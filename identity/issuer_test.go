package identity_test

import (
	"crypto"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/identity"
)

func fixedIssuer(t *testing.T, opts identity.IssuerOptions) *identity.Issuer {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return t0 }
	}
	iss, err := identity.NewIssuer("https://i", jwk(keysOnce().ed, "k1", "", ""), opts)
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

// decodeSeg decodes segment i of tok as JSON.
func decodeSeg(t *testing.T, tok string, i int) map[string]any {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(segments(tok)[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMintDefaults(t *testing.T) {
	t.Parallel()
	iss := fixedIssuer(t, identity.IssuerOptions{})
	tok, err := iss.Mint(identity.Claims{Subject: "s", Audience: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	h := decodeSeg(t, tok, 0)
	if len(h) != 3 || h["alg"] != "EdDSA" || h["kid"] != "k1" || h["typ"] != "mg+jwt" {
		t.Errorf("header = %v, want exactly alg, kid, typ", h)
	}
	c := decodeSeg(t, tok, 1)
	now := float64(t0.Unix())
	if c["iss"] != "https://i" || c["iat"] != now || c["nbf"] != now || c["exp"] != now+300 || c["aud"] != "a" {
		t.Errorf("claims = %v", c)
	}
	for _, absent := range []string{"model", "agent", "tenant", "env", "scope", "act"} {
		if _, ok := c[absent]; ok {
			t.Errorf("empty %s written: %v", absent, c)
		}
	}
	jti, _ := c["jti"].(string)
	if b, err := base64.RawURLEncoding.DecodeString(jti); err != nil || len(b) != 16 {
		t.Errorf("jti %q is not 128 bits of base64url", jti)
	}
	tok2, _ := iss.Mint(identity.Claims{Subject: "s", Audience: []string{"a"}})
	if decodeSeg(t, tok2, 1)["jti"] == jti {
		t.Error("two tokens share a jti")
	}
}

func TestMintClaims(t *testing.T) {
	t.Parallel()
	iss := fixedIssuer(t, identity.IssuerOptions{TTL: time.Minute, Type: "JWT"})
	tok, err := iss.Mint(identity.Claims{
		Issuer: "https://i", Subject: "s", Audience: []string{"a", "b"}, ID: "id-1",
		NotBefore: t0.Add(time.Second), Agent: "bot", Tenant: "t", Env: "e",
		Model:  identity.Model{Name: "m"},
		Scopes: []string{"x:read", "y:write"},
		Act:    []identity.Actor{{Subject: "a1", Issuer: "i1"}, {Subject: "a2"}},
		Raw:    map[string]any{"custom": "yes", "sub": "root", "exp": 1, "scope": "admin"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if h := decodeSeg(t, tok, 0); h["typ"] != "JWT" {
		t.Errorf("typ = %v", h["typ"])
	}
	c := decodeSeg(t, tok, 1)
	got, _ := json.Marshal(c)
	want := `{"act":{"act":{"sub":"a2"},"iss":"i1","sub":"a1"},"agent":"bot","aud":["a","b"],"custom":"yes","env":"e",` +
		`"exp":1767225660,"iat":1767225600,"iss":"https://i","jti":"id-1","model":{"name":"m"},"nbf":1767225601,` +
		`"scope":"x:read y:write","sub":"s","tenant":"t"}`
	if string(got) != want {
		t.Errorf("claims\n got %s\nwant %s", got, want)
	}
}

func TestMintScopeWins(t *testing.T) {
	t.Parallel()
	iss := fixedIssuer(t, identity.IssuerOptions{})
	tok, err := iss.Mint(identity.Claims{Subject: "s", Audience: []string{"a"}, Scope: "a b", Scopes: []string{"c"}})
	if err != nil || decodeSeg(t, tok, 1)["scope"] != "a b" {
		t.Errorf("Mint = %v, scope %v", err, decodeSeg(t, tok, 1)["scope"])
	}
}

func TestMintRejects(t *testing.T) {
	t.Parallel()
	iss := fixedIssuer(t, identity.IssuerOptions{})
	ok := identity.Claims{Subject: "s", Audience: []string{"a"}}
	change := func(f func(c *identity.Claims)) identity.Claims {
		c := ok
		f(&c)
		return c
	}
	tests := []struct {
		name string
		c    identity.Claims
		want error
	}{
		{"other issuer", change(func(c *identity.Claims) { c.Issuer = "https://j" }), identity.ErrIssuer},
		{"no subject", change(func(c *identity.Claims) { c.Subject = "" }), identity.ErrMissingClaim},
		{"no audience", change(func(c *identity.Claims) { c.Audience = nil }), identity.ErrMissingClaim},
		{"expiry before issue", change(func(c *identity.Claims) { c.Expiry = t0.Add(-time.Second) }), identity.ErrLifetime},
		{"expiry at issue", change(func(c *identity.Claims) { c.Expiry = t0 }), identity.ErrLifetime},
		{"scope with space", change(func(c *identity.Claims) { c.Scopes = []string{"a b"} }), identity.ErrMalformed},
		{"empty scope", change(func(c *identity.Claims) { c.Scopes = []string{""} }), identity.ErrMalformed},
		{"actor without subject", change(func(c *identity.Claims) { c.Act = []identity.Actor{{Issuer: "x"}} }), identity.ErrMissingClaim},
		{"act chain too long", change(func(c *identity.Claims) { c.Act = make([]identity.Actor, 17) }), identity.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tok, err := iss.Mint(tt.c)
			if tok != "" {
				t.Error("got a token")
			}
			wantOnly(t, err, tt.want)
		})
	}
}

func TestNewIssuerRejects(t *testing.T) {
	t.Parallel()
	k := keysOnce()
	tests := []struct {
		name string
		iss  string
		key  jose.JSONWebKey
		opts identity.IssuerOptions
		want error
		msg  string
	}{
		{"no issuer", "", jwk(k.ed, "k", "", ""), identity.IssuerOptions{}, identity.ErrConfig, "needs a name"},
		{"negative TTL", "i", jwk(k.ed, "k", "", ""), identity.IssuerOptions{TTL: -time.Second}, identity.ErrConfig, "negative TTL"},
		{"public key", "i", jwk(k.ed.Public(), "k", "", ""), identity.IssuerOptions{}, identity.ErrKeySet, "must be private"},
		{"symmetric", "i", jwk([]byte("0123456789abcdef0123456789abcdef"), "k", "HS256", ""), identity.IssuerOptions{}, identity.ErrKeySet, "symmetric"},
		{"no kid", "i", jwk(k.ed, "", "", ""), identity.IssuerOptions{}, identity.ErrKeySet, "empty kid"},
		{"use enc", "i", jwk(k.ed, "k", "", "enc"), identity.IssuerOptions{}, identity.ErrKeySet, "use \"enc\""},
		{"RSA 1024", "i", jwk(k.rsa1k, "k", "", ""), identity.IssuerOptions{}, identity.ErrKeySet, "1024 bits"},
		{"P-384", "i", jwk(k.p384, "k", "", ""), identity.IssuerOptions{}, identity.ErrKeySet, "P-384 key cannot"},
		{"alg mismatch", "i", jwk(k.ed, "k", "ES256", ""), identity.IssuerOptions{}, identity.ErrKeySet, "Ed25519 key cannot verify ES256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			iss, err := identity.NewIssuer(tt.iss, tt.key, tt.opts)
			if iss != nil {
				t.Error("got an issuer")
			}
			wantOnly(t, err, tt.want)
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("err = %v\nwant it to mention %q", err, tt.msg)
			}
		})
	}
}

func TestIssuerPublicKey(t *testing.T) {
	t.Parallel()
	iss := fixedIssuer(t, identity.IssuerOptions{})
	pub := iss.PublicKey()
	if !pub.IsPublic() || pub.KeyID != "k1" || pub.Algorithm != "EdDSA" {
		t.Errorf("PublicKey = %+v", pub)
	}
}

func TestGenerateKey(t *testing.T) {
	t.Parallel()
	for _, alg := range []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256} {
		k, err := identity.GenerateKey(alg, "")
		if err != nil {
			t.Fatal(err)
		}
		tp, _ := k.Thumbprint(crypto.SHA256)
		if k.IsPublic() || k.Use != "sig" || k.Algorithm != string(alg) || k.KeyID != base64.RawURLEncoding.EncodeToString(tp) {
			t.Errorf("%s: key %+v", alg, k)
		}
		if named, _ := identity.GenerateKey(alg, "mine"); named.KeyID != "mine" {
			t.Errorf("%s: kid %q, want mine", alg, named.KeyID)
		}
	}
	for _, alg := range []jose.SignatureAlgorithm{jose.RS256, jose.HS256, "none", jose.ES384} {
		_, err := identity.GenerateKey(alg, "")
		wantOnly(t, err, identity.ErrAlgorithm)
	}
}

func TestSplitScope(t *testing.T) {
	t.Parallel()
	if got := identity.SplitScope("  a  b\tc "); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("SplitScope = %q", got)
	}
	if got := identity.SplitScope(""); got != nil {
		t.Errorf("SplitScope(\"\") = %q", got)
	}
}
