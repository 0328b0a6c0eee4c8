package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/identity"
)

// mintToken runs token mint with the key and extra flags and returns the
// token.
func mintToken(t *testing.T, key string, extra ...string) string {
	t.Helper()
	args := append([]string{"token", "mint", "-key", key, "-iss", "https://id.example.com", "-aud", "tools", "-sub", "model:bot"}, extra...)
	code, stdout, stderr := runCLI(t, args...)
	if code != exitOK {
		t.Fatalf("mint: exit %d\n%s", code, stderr)
	}
	return strings.TrimSpace(stdout)
}

func TestTokenInspect(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key, pub, _ := keygen(t, dir)
	_, otherPub, _ := keygen(t, t.TempDir())
	tok := mintToken(t, key, "-agent", "support-bot", "-act", "user:alice")
	expired := mintToken(t, key, "-iat", "2020-01-01T00:00:00Z")
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"decode only", []string{tok}, exitOK, []string{"header (unverified)", `"agent": "support-bot"`, `"sub": "user:alice"`, "not verified"}},
		{"verified", []string{"-keys", pub, tok}, exitOK, []string{"issuer \"https://id.example.com\" taken from the token", "verified: issuer https://id.example.com, audience tools"}},
		{"checked iss and aud", []string{"-keys", pub, "-iss", "https://id.example.com", "-aud", "tools", tok}, exitOK, []string{"verified"}},
		{"wrong audience", []string{"-keys", pub, "-aud", "billing", tok}, exitFail, []string{"verification FAILED (identity.ErrAudience)", `does not contain "billing"`}},
		{"wrong keys", []string{"-keys", otherPub, tok}, exitFail, []string{"identity.ErrUnknownKey"}},
		{"expired", []string{"-keys", pub, expired}, exitFail, []string{"iat: 2020-01-01T00:00:00Z", "identity.ErrExpired", "expired at 2020-01-01T00:05:00Z"}},
		{"as of a time", []string{"-keys", pub, "-now", "2020-01-01T00:04:00Z", expired}, exitOK, []string{"verified"}},
		{"tampered", []string{"-keys", pub, tok[:len(tok)-4] + "AAAA"}, exitFail, []string{"identity.ErrSignature"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runCLI(t, append([]string{"token", "inspect"}, tt.args...)...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, stdout, stderr)
			}
			assertContains(t, "stdout", stdout, tt.want)
		})
	}
}

func TestTokenInspectJWKS(t *testing.T) {
	t.Parallel()
	key, pub, _ := keygen(t, t.TempDir())
	set, err := os.ReadFile(pub)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(set)
	}))
	defer srv.Close()
	code, stdout, stderr := runCLI(t, "token", "inspect", "-jwks", srv.URL, mintToken(t, key))
	if code != exitOK || !strings.Contains(stdout, "verified") {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
}

func TestTokenInspectErrors(t *testing.T) {
	t.Parallel()
	_, pub, _ := keygen(t, t.TempDir())
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"two parts", []string{"a.b"}, exitFail, "2 dot-separated parts"},
		{"not base64", []string{"a!.b.c"}, exitFail, "header is not base64url"},
		{"not JSON", []string{"bm90LWpzb24.e30.AA"}, exitFail, "header is not JSON"},
		{"both sources", []string{"-keys", pub, "-jwks", "https://x", "a.b.c"}, exitUsage, "not both"},
		{"two tokens", []string{"a.b.c", "d.e.f"}, exitUsage, `unexpected argument "d.e.f"`},
		{"remote http", []string{"-jwks", "http://keys.example.com/jwks", "e30.e30.AA"}, exitFail, "want https"},
		{"bad now", []string{"-keys", pub, "-now", "yesterday", "e30.e30.AA"}, exitFail, "-now"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, _, stderr := runCLI(t, append([]string{"token", "inspect"}, tt.args...)...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, tt.code, tt.want)
			}
		})
	}
}

func TestMintDelegationFlags(t *testing.T) {
	t.Parallel()
	key, pub, _ := keygen(t, t.TempDir())
	tok := mintToken(t, key, "-act", `{"sub":"svc:gateway","iss":"https://gw","scope":"a  b"}`, "-act", "user:alice",
		"-may-act", "svc:gateway", "-jti", "fixed-id", "-iat", "2026-01-01T00:00:00Z", "-nbf", "30s", "-scope", "a")
	c := verifyAt(t, pub, tok, "2026-01-01T00:01:00Z")
	if len(c.Act) != 2 || c.Act[0].Subject != "svc:gateway" || c.Act[0].Issuer != "https://gw" || c.Act[0].Scope != "a b" ||
		c.Origin != "user:alice" || c.MayAct.Subject != "svc:gateway" || c.ID != "fixed-id" ||
		c.NotBefore.Sub(c.IssuedAt).Seconds() != 30 {
		t.Errorf("claims %+v", c)
	}
	for _, bad := range [][]string{{"-act", `{"iss":"x"}`}, {"-act", `{"sub":"a","role":"x"}`}, {"-act", " "},
		{"-nbf", "-1s"}, {"-nbf", "10m"}, {"-iat", "now"}, {"-may-act", "{"}, {"-claim", "act=x"}} {
		code, _, stderr := runCLI(t, append([]string{"token", "mint", "-key", key, "-iss", "i", "-aud", "a", "-sub", "s"}, bad...)...)
		if code != exitUsage || !strings.Contains(stderr, bad[0]) {
			t.Errorf("%v: exit %d, stderr %q", bad, code, stderr)
		}
	}
}

// verifyAt inspects tok against the key set at pub as of at, and returns its
// claims.
func verifyAt(t *testing.T, pub, tok, at string) *identity.Claims {
	t.Helper()
	code, stdout, stderr := runCLI(t, "token", "inspect", "-keys", pub, "-now", at, tok)
	if code != exitOK {
		t.Fatalf("inspect: exit %d\n%s\n%s", code, stdout, stderr)
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(payload, &raw); err != nil {
		t.Fatal(err)
	}
	c, err := identity.UnsafeClaimsFromMap(raw)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
