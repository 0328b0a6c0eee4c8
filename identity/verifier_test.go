package identity_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/identity/identitytest"
)

func TestVerifyClaims(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	tok := k.Mint(t, identity.Claims{
		Subject:  "model:bot",
		Audience: []string{"other", k.Audience()},
		Model:    identity.Model{Provider: "anthropic", Name: "claude", Version: "4"},
		Agent:    "support-bot", Tenant: "acme", Env: "prod",
		Scopes: []string{"tickets:read", "tickets:write"},
		Act:    []identity.Actor{{Subject: "svc:gateway", Issuer: "https://gw"}, {Subject: "user:alice"}},
		ID:     "jti-1",
		Raw:    map[string]any{"ticket_limit": 5, "iss": "ignored"},
	})
	c, err := verify(t, k, identity.VerifierOptions{}, tok)
	if err != nil {
		t.Fatal(err)
	}
	want := identity.Claims{
		Issuer: k.Issuer(), Subject: "model:bot", Audience: []string{"other", k.Audience()},
		Expiry: t0.Add(identity.DefaultTTL), NotBefore: t0, IssuedAt: t0, ID: "jti-1",
		Model: identity.Model{Provider: "anthropic", Name: "claude", Version: "4"},
		Agent: "support-bot", Tenant: "acme", Env: "prod",
		Scope: "tickets:read tickets:write", Scopes: []string{"tickets:read", "tickets:write"},
		Act:      []identity.Actor{{Subject: "svc:gateway", Issuer: "https://gw"}, {Subject: "user:alice"}},
		ActDepth: 2, Origin: "user:alice",
	}
	raw := c.Raw
	c.Raw = nil
	if got, wantS := fmt.Sprintf("%+v", *c), fmt.Sprintf("%+v", want); got != wantS {
		t.Errorf("claims\n got %s\nwant %s", got, wantS)
	}
	if raw["ticket_limit"] != 5.0 || raw["iss"] != k.Issuer() || raw["agent"] != "support-bot" {
		t.Errorf("raw claims = %v", raw)
	}
}

// TestVerifyAccepts covers tokens that are unusual but valid.
func TestVerifyAccepts(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	deep := map[string]any{"sub": "actor-15"}
	for i := 14; i >= 0; i-- {
		deep = map[string]any{"sub": fmt.Sprintf("actor-%d", i), "act": deep}
	}
	tests := []struct {
		name  string
		token string
		opts  identity.VerifierOptions
	}{
		{"minted", k.Mint(t, identity.Claims{}), identity.VerifierOptions{}},
		{"aud array", k.Sign(t, k.Header(), with(k, func(c map[string]any) { c["aud"] = []string{"x", k.Audience()} })), identity.VerifierOptions{}},
		{"no nbf", k.Sign(t, k.Header(), with(k, func(c map[string]any) { delete(c, "nbf") })), identity.VerifierOptions{}},
		{"fractional exp", k.Sign(t, k.Header(), with(k, func(c map[string]any) { c["exp"] = float64(t0.Unix()) + 60.5 })), identity.VerifierOptions{}},
		{"act 16 deep", k.Sign(t, k.Header(), with(k, func(c map[string]any) { c["act"] = deep })), identity.VerifierOptions{}},
		{"typ JWT configured", k.Sign(t, header(k, func(h map[string]any) { h["typ"] = "JWT" }), k.ClaimSet()), identity.VerifierOptions{Type: "JWT"}},
		{"null model", k.Sign(t, k.Header(), with(k, func(c map[string]any) { c["model"] = nil })), identity.VerifierOptions{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := verify(t, k, tt.opts, tt.token); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestVerifyRejectsKitTokens runs every broken token of the kit, with the cache
// on and off.
func TestVerifyRejectsKitTokens(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	for _, b := range k.Broken(t) {
		for _, cache := range []int{0, -1} {
			t.Run(fmt.Sprintf("%s/cache=%d", b.Name, cache), func(t *testing.T) {
				t.Parallel()
				v := k.Verifier(t, identity.VerifierOptions{CacheSize: cache})
				for range 2 { // the second call would hit a wrongly cached result
					_, err := v.Verify(context.Background(), b.Token)
					wantOnly(t, err, b.Err)
				}
			})
		}
	}
}

// TestVerifyRejects holds one named case per check; removing the check makes
// its case fail.
func TestVerifyRejects(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	valid := k.Mint(t, identity.Claims{})
	claims := func(f func(map[string]any)) string { return k.Sign(t, k.Header(), with(k, f)) }
	hdr := func(f func(map[string]any)) string { return k.Sign(t, header(k, f), k.ClaimSet()) }
	rawClaims := func(s string) string { return k.Sign(t, k.Header(), json.RawMessage(s)) }
	now := t0.Unix()
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"header alg missing", hdr(func(h map[string]any) { delete(h, "alg") }), identity.ErrAlgorithm},
		{"header alg RS256 not enabled", hdr(func(h map[string]any) { h["alg"] = "RS256" }), identity.ErrAlgorithm},
		{"header alg ES384", hdr(func(h map[string]any) { h["alg"] = "ES384" }), identity.ErrAlgorithm},
		{"header alg NONE", hdr(func(h map[string]any) { h["alg"] = "NONE" }), identity.ErrAlgorithm},
		{"header alg does not fit key", hdr(func(h map[string]any) { h["alg"] = "ES256" }), identity.ErrAlgorithm},
		{"header kid missing", hdr(func(h map[string]any) { delete(h, "kid") }), identity.ErrHeader},
		{"header kid empty", hdr(func(h map[string]any) { h["kid"] = "" }), identity.ErrHeader},
		{"header kid number", hdr(func(h map[string]any) { h["kid"] = 7 }), identity.ErrHeader},
		{"header jwk private", hdr(func(h map[string]any) { h["jwk"] = map[string]any{"kty": "oct", "k": "AAAA"} }), identity.ErrHeader},
		{"header ALG upper case", hdr(func(h map[string]any) { h["ALG"] = "EdDSA" }), identity.ErrHeader},
		{"header typ missing", hdr(func(h map[string]any) { delete(h, "typ") }), identity.ErrType},
		{"header typ other case", hdr(func(h map[string]any) { h["typ"] = "MG+JWT" }), identity.ErrType},
		{"header typ with media prefix", hdr(func(h map[string]any) { h["typ"] = "application/mg+jwt" }), identity.ErrType},
		{"header typ number", hdr(func(h map[string]any) { h["typ"] = 1 }), identity.ErrType},
		{"payload changed", tamper(t, valid, k.Sign(t, k.Header(), with(k, func(c map[string]any) { c["sub"] = "root" }))), identity.ErrSignature},
		{"signature of other token", swapSig(valid, k.Mint(t, identity.Claims{})), identity.ErrSignature},
		{"empty signature", valid[:len(valid)-86], identity.ErrSignature},
		{"sub empty", claims(func(c map[string]any) { c["sub"] = "" }), identity.ErrMissingClaim},
		{"aud empty array", claims(func(c map[string]any) { c["aud"] = []string{} }), identity.ErrMissingClaim},
		{"exp null", claims(func(c map[string]any) { c["exp"] = nil }), identity.ErrMissingClaim},
		{"act without sub", claims(func(c map[string]any) { c["act"] = map[string]any{"iss": "x"} }), identity.ErrMissingClaim},
		{"nested act without sub", claims(func(c map[string]any) { c["act"] = map[string]any{"sub": "a", "act": map[string]any{}} }), identity.ErrMissingClaim},
		{"iss other", claims(func(c map[string]any) { c["iss"] = k.Issuer() + "/" }), identity.ErrIssuer},
		{"aud other case", claims(func(c map[string]any) { c["aud"] = []string{"MODELGUARD-TEST"} }), identity.ErrAudience},
		{"aud empty string", claims(func(c map[string]any) { c["aud"] = "" }), identity.ErrAudience},
		{"exp before iat", claims(func(c map[string]any) { c["exp"], c["iat"], c["nbf"] = now+10, now+20, now }), identity.ErrLifetime},
		{"lifetime 1h+1s", claims(func(c map[string]any) { c["exp"] = now + 3601 }), identity.ErrLifetime},
		{"exp string", claims(func(c map[string]any) { c["exp"] = fmt.Sprint(now + 60) }), identity.ErrMalformed},
		{"exp huge", claims(func(c map[string]any) { c["exp"] = 1e300 }), identity.ErrMalformed},
		{"iat bool", claims(func(c map[string]any) { c["iat"] = true }), identity.ErrMalformed},
		{"iss number", claims(func(c map[string]any) { c["iss"] = 1 }), identity.ErrMalformed},
		{"aud number", claims(func(c map[string]any) { c["aud"] = 1 }), identity.ErrMalformed},
		{"aud mixed array", claims(func(c map[string]any) { c["aud"] = []any{k.Audience(), 1} }), identity.ErrMalformed},
		{"agent number", claims(func(c map[string]any) { c["agent"] = 42 }), identity.ErrMalformed},
		{"scope array", claims(func(c map[string]any) { c["scope"] = []string{"a"} }), identity.ErrMalformed},
		{"model string", claims(func(c map[string]any) { c["model"] = "claude" }), identity.ErrMalformed},
		{"model name number", claims(func(c map[string]any) { c["model"] = map[string]any{"name": 4} }), identity.ErrMalformed},
		{"act string", claims(func(c map[string]any) { c["act"] = "user:alice" }), identity.ErrMalformed},
		{"act sub number", claims(func(c map[string]any) { c["act"] = map[string]any{"sub": 5} }), identity.ErrMalformed},
		{"act iss array", claims(func(c map[string]any) { c["act"] = map[string]any{"sub": "a", "iss": []string{}} }), identity.ErrMalformed},
		{"act 17 deep", claims(func(c map[string]any) { c["act"] = actChain(17) }), identity.ErrMalformed},
		{"duplicate claim", rawClaims(dupClaims(k, now)), identity.ErrMalformed},
		{"payload array", rawClaims(`[1,2]`), identity.ErrMalformed},
		{"payload string", rawClaims(`"x"`), identity.ErrMalformed},
		{"payload null", rawClaims(`null`), identity.ErrMalformed},
		{"payload number", rawClaims(`1`), identity.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := verify(t, k, identity.VerifierOptions{}, tt.token)
			wantOnly(t, err, tt.want)
		})
	}
}

// tamper returns valid with the payload segment of other: a real signature over
// a different payload.
func tamper(t *testing.T, valid, other string) string {
	t.Helper()
	v, o := segments(valid), segments(other)
	return v[0] + "." + o[1] + "." + v[2]
}

func swapSig(tok, other string) string {
	t, o := segments(tok), segments(other)
	return t[0] + "." + t[1] + "." + o[2]
}

func segments(tok string) []string { return strings.SplitN(tok, ".", 3) }

func actChain(n int) map[string]any {
	var a map[string]any
	for i := n - 1; i >= 0; i-- {
		m := map[string]any{"sub": fmt.Sprintf("actor-%d", i)}
		if a != nil {
			m["act"] = a
		}
		a = m
	}
	return a
}

// dupClaims is a valid claim set with sub given twice.
func dupClaims(k *identitytest.Kit, now int64) string {
	return fmt.Sprintf(`{"iss":%q,"sub":"model:a","aud":%q,"iat":%d,"exp":%d,"jti":"j","sub":"model:root"}`,
		k.Issuer(), k.Audience(), now, now+60)
}

func TestDuplicateClaimRejectedByGoJOSE(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	tok := k.Sign(t, k.Header(), json.RawMessage(dupClaims(k, t0.Unix())))
	_, err := verify(t, k, identity.VerifierOptions{}, tok)
	wantOnly(t, err, identity.ErrMalformed)
	if want := "duplicate key"; !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want it to name the %s", err, want)
	}
}

func TestVerifierAccessors(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	v := k.Verifier(t, identity.VerifierOptions{})
	if v.Issuer() != k.Issuer() || v.Audience() != k.Audience() {
		t.Errorf("Issuer, Audience = %q, %q", v.Issuer(), v.Audience())
	}
}

func TestNewVerifierRejects(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	keys := k.Keys()
	tests := []struct {
		name     string
		iss, aud string
		keys     identity.Keys
		opts     identity.VerifierOptions
		want     error
	}{
		{"no issuer", "", "a", keys, identity.VerifierOptions{}, identity.ErrConfig},
		{"no audience", "i", "", keys, identity.VerifierOptions{}, identity.ErrConfig},
		{"no keys", "i", "a", nil, identity.VerifierOptions{}, identity.ErrConfig},
		{"HS256", "i", "a", keys, identity.VerifierOptions{Algorithms: []jose.SignatureAlgorithm{jose.HS256}}, identity.ErrAlgorithm},
		{"none", "i", "a", keys, identity.VerifierOptions{Algorithms: []jose.SignatureAlgorithm{"none"}}, identity.ErrAlgorithm},
		{"ES384", "i", "a", keys, identity.VerifierOptions{Algorithms: []jose.SignatureAlgorithm{jose.EdDSA, jose.ES384}}, identity.ErrAlgorithm},
		{"RS512", "i", "a", keys, identity.VerifierOptions{Algorithms: []jose.SignatureAlgorithm{jose.RS512}}, identity.ErrAlgorithm},
		{"leeway 61s", "i", "a", keys, identity.VerifierOptions{Leeway: 61 * time.Second}, identity.ErrConfig},
		{"negative lifetime", "i", "a", keys, identity.VerifierOptions{MaxLifetime: -1}, identity.ErrConfig},
		{"negative size", "i", "a", keys, identity.VerifierOptions{MaxTokenSize: -1}, identity.ErrConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := identity.NewVerifier(tt.iss, tt.aud, tt.keys, tt.opts)
			if v != nil {
				t.Error("got a verifier")
			}
			wantOnly(t, err, tt.want)
		})
	}
}

func TestNewVerifierReportsAllProblems(t *testing.T) {
	t.Parallel()
	_, err := identity.NewVerifier("", "", nil, identity.VerifierOptions{
		Algorithms: []jose.SignatureAlgorithm{jose.HS256}, Leeway: time.Minute + 1,
	})
	if !errors.Is(err, identity.ErrAlgorithm) || !errors.Is(err, identity.ErrConfig) {
		t.Fatalf("err = %v, want both ErrAlgorithm and ErrConfig", err)
	}
	if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n != 5 {
		t.Errorf("%d problems reported, want 5:\n%v", n, err)
	}
}
