package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/identity"
)

func TestMintVerifies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		keygen []string
		alg    string
	}{
		{name: "EdDSA", alg: "EdDSA"},
		{name: "ES256", keygen: []string{"-alg", "ES256", "-kid", "es-1"}, alg: "ES256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key, pub, kid := keygen(t, t.TempDir(), tt.keygen...)
			code, stdout, stderr := runCLI(t, "token", "mint", "-key", key,
				"-iss", "https://id.example.com", "-aud", "tickets-api", "-aud", "audit-api",
				"-sub", "bot@example.com", "-agent", "support-bot", "-tenant", "acme", "-env", "prod",
				"-scope", " tickets:read  tickets:write ", "-model", "openai/gpt-4o/2024-08-06", "-ttl", "10m",
				"-claim", "tier=3", "-claim", `regions=["eu","us"]`, "-claim", "note=hello world", "-claim", `id="42"`)
			if code != exitOK {
				t.Fatalf("mint: exit %d\n%s", code, stderr)
			}
			token, ok := strings.CutSuffix(stdout, "\n")
			if !ok || strings.Contains(token, "\n") || stderr != "" {
				t.Fatalf("want exactly the token on stdout and nothing on stderr; got %q, %q", stdout, stderr)
			}
			assertHeader(t, token, tt.alg, kid)
			c := verify(t, pub, "https://id.example.com", "audit-api", token)
			assertClaims(t, c)
		})
	}
}

// verify checks token as a guard would, against the key set keygen wrote.
func verify(t *testing.T, pub, iss, aud, token string) *identity.Claims {
	t.Helper()
	set, err := identity.LoadKeySet(pub)
	if err != nil {
		t.Fatal(err)
	}
	v, err := identity.NewVerifier(iss, aud, set, identity.VerifierOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(context.Background(), token)
	if err != nil {
		t.Fatalf("minted token does not verify: %v", err)
	}
	return c
}

func assertHeader(t *testing.T, token, alg, kid string) {
	t.Helper()
	seg, _, _ := strings.Cut(token, ".")
	data, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]string
	if err := json.Unmarshal(data, &h); err != nil {
		t.Fatal(err)
	}
	if h["alg"] != alg || h["kid"] != kid {
		t.Errorf("header %v, want alg %s kid %s", h, alg, kid)
	}
}

func assertClaims(t *testing.T, c *identity.Claims) {
	t.Helper()
	want := identity.Claims{Subject: "bot@example.com", Agent: "support-bot", Tenant: "acme", Env: "prod",
		Scope: "tickets:read tickets:write", Model: identity.Model{Provider: "openai", Name: "gpt-4o", Version: "2024-08-06"}}
	if c.Subject != want.Subject || c.Agent != want.Agent || c.Tenant != want.Tenant || c.Env != want.Env ||
		c.Scope != want.Scope || c.Model != want.Model {
		t.Errorf("claims %+v, want %+v", c, want)
	}
	if !slices.Equal(c.Audience, []string{"tickets-api", "audit-api"}) {
		t.Errorf("aud %q", c.Audience)
	}
	if got := c.Expiry.Sub(c.IssuedAt); got != 10*time.Minute {
		t.Errorf("lifetime %s, want -ttl 10m", got)
	}
	for name, wantJSON := range map[string]string{"tier": `3`, "regions": `["eu","us"]`, "note": `"hello world"`, "id": `"42"`} {
		got, err := json.Marshal(c.Raw[name])
		if err != nil || string(got) != wantJSON {
			t.Errorf("claim %s = %s (%v), want %s", name, got, err, wantJSON)
		}
	}
}

func TestMintFlagErrors(t *testing.T) {
	t.Parallel()
	key, pub, _ := keygen(t, t.TempDir())
	pubKey := publicJWK(t, pub)
	valid := []string{"-key", key, "-iss", "i", "-aud", "a", "-sub", "s"}
	without := func(flag string) []string {
		i := slices.Index(valid, flag)
		return slices.Delete(slices.Clone(valid), i, i+2)
	}
	with := func(extra ...string) []string { return append(slices.Clone(valid), extra...) }
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{name: "missing -sub", args: without("-sub"), wantCode: exitUsage, want: "-sub is required"},
		{name: "missing -iss", args: without("-iss"), wantCode: exitUsage, want: "-iss is required"},
		{name: "missing -aud", args: without("-aud"), wantCode: exitUsage, want: "-aud is required"},
		{name: "missing -key", args: without("-key"), wantCode: exitUsage, want: "-key is required"},
		{name: "zero ttl", args: with("-ttl", "0s"), wantCode: exitUsage, want: "-ttl 0s: must be positive"},
		{name: "ttl over limit", args: with("-ttl", "2h"), wantCode: exitUsage, want: "-ttl 2h0m0s: longer than -max-ttl 1h0m0s"},
		{name: "claim without value", args: with("-claim", "tier"), wantCode: exitUsage, want: `-claim "tier": want name=value`},
		{name: "registered claim", args: with("-claim", "sub=root"), wantCode: exitUsage, want: "-claim sub: a registered claim (set by -sub)"},
		{name: "time claim", args: with("-claim", "exp=99999999999"), wantCode: exitUsage, want: "-claim exp: a registered claim (set by -ttl)"},
		{name: "claim twice", args: with("-claim", "a=1", "-claim", "a=2"), wantCode: exitUsage, want: "-claim a: given twice"},
		{name: "short model", args: with("-model", "openai/gpt-4o"), wantCode: exitUsage, want: `-model "openai/gpt-4o"`},
		{name: "stray argument", args: with("extra"), wantCode: exitUsage, want: `unexpected argument "extra"`},
		{name: "no key file", args: with("-key", key+".missing"), wantCode: exitFail, want: "-key: open"},
		{name: "public key set as key", args: with("-key", pub), wantCode: exitFail, want: "holds a JWK Set"},
		{name: "public key as key", args: with("-key", pubKey), wantCode: exitFail, want: "holds a public key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runCLI(t, append([]string{"token", "mint"}, tt.args...)...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, tt.wantCode, tt.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want no token", stdout)
			}
		})
	}
}

// publicJWK writes the first key of the JWK Set at set to its own file.
func publicJWK(t *testing.T, set string) string {
	t.Helper()
	var doc struct{ Keys []json.RawMessage }
	data, err := os.ReadFile(set)
	if err == nil {
		err = json.Unmarshal(data, &doc)
	}
	if err != nil || len(doc.Keys) == 0 {
		t.Fatalf("read %s: %v, %d keys", set, err, len(doc.Keys))
	}
	return writeFile(t, filepath.Dir(set), "public.jwk", string(doc.Keys[0]))
}

func TestMintTTLLimitRaised(t *testing.T) {
	t.Parallel()
	key, pub, _ := keygen(t, t.TempDir())
	code, stdout, stderr := runCLI(t, "token", "mint", "-key", key, "-iss", "i", "-aud", "a", "-sub", "s",
		"-ttl", "2h", "-max-ttl", "3h")
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	set, err := identity.LoadKeySet(pub)
	if err != nil {
		t.Fatal(err)
	}
	v, err := identity.NewVerifier("i", "a", set, identity.VerifierOptions{MaxLifetime: 3 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(context.Background(), strings.TrimSpace(stdout))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Expiry.Sub(c.IssuedAt); got != 2*time.Hour {
		t.Errorf("lifetime %s, want 2h", got)
	}
}
