package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/identity"
)

// setKids returns the kids of the JWK Set at path with their retirement
// marks ("" when unmarked).
func setKids(t *testing.T, path string) map[string]string {
	t.Helper()
	var doc struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(mustRead(t, path), &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range doc.Keys {
		mark, _ := k[retireMember].(string)
		out[k["kid"].(string)] = mark
	}
	return out
}

func TestKeysRotate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key1, set, kid1 := keygen(t, dir)
	key2 := filepath.Join(dir, "k2.jwk")
	code, _, stderr := runCLI(t, "keys", "rotate", "-set", set, "-out", key2, "-kid", "k2", "-now", "2026-01-01T00:00:00Z", "-grace", "2h")
	if code != exitOK {
		t.Fatalf("rotate: exit %d\n%s", code, stderr)
	}
	assertContains(t, "stderr", stderr, []string{"kid " + kid1 + ": retire after 2026-01-01T02:00:00Z", "added kid k2"})
	if got := setKids(t, set); got[kid1] != "2026-01-01T02:00:00Z" || got["k2"] != "" || len(got) != 2 {
		t.Fatalf("set after rotation: %v", got)
	}
	assertMode(t, key2, privateMode)
	assertMode(t, set, publicMode)
	// Tokens of both keys verify against the rotated set.
	for _, k := range []string{key1, key2} {
		if code, out, _ := runCLI(t, "token", "inspect", "-keys", set, mintToken(t, k)); code != exitOK {
			t.Errorf("token of %s: %s", k, out)
		}
	}
	// Before the mark: the old key stays; after it, the next rotation removes it.
	key3 := filepath.Join(dir, "k3.jwk")
	runCLI(t, "keys", "rotate", "-set", set, "-out", key3, "-kid", "k3", "-now", "2026-01-01T02:00:00Z")
	got := setKids(t, set)
	if _, ok := got[kid1]; ok || got["k2"] == "" || got["k3"] != "" {
		t.Fatalf("set after second rotation: %v", got)
	}
	if _, err := identity.LoadKeySet(set); err != nil {
		t.Fatal(err)
	}
}

func TestKeysRotateErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, set, kid := keygen(t, dir)
	bad := writeFile(t, dir, "bad.jwks", `{"keys":[{"kty":"oct","kid":"s","k":"AAAA"}]}`)
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no set", []string{"-out", filepath.Join(dir, "n.jwk")}, exitUsage, "-set is required"},
		{"same file", []string{"-set", set, "-out", set}, exitUsage, "same file"},
		{"bad alg", []string{"-set", set, "-out", filepath.Join(dir, "n.jwk"), "-alg", "RS256"}, exitUsage, "-alg"},
		{"bad grace", []string{"-set", set, "-out", filepath.Join(dir, "n.jwk"), "-grace", "0s"}, exitUsage, "-grace"},
		{"bad set", []string{"-set", bad, "-out", filepath.Join(dir, "n.jwk")}, exitFail, "symmetric key"},
		{"kid taken", []string{"-set", set, "-out", filepath.Join(dir, "n.jwk"), "-kid", kid}, exitFail, "already used"},
		{"out exists", []string{"-set", set, "-out", set + ".x", "-kid", "x"}, exitFail, "already exists"},
	}
	writeFile(t, dir, filepath.Base(set)+".x", "{}")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, append([]string{"keys", "rotate"}, tt.args...)...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, tt.code, tt.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, "n.jwk")); err == nil {
		t.Error("a failed rotation left a private key behind")
	}
}

// FuzzRotateSet runs arbitrary JWK Set files through the parse, retire and
// encode steps of keys rotate: no panic, and whatever is written is a set
// identity accepts, holding no key whose mark has passed.
func FuzzRotateSet(f *testing.F) {
	key, err := identity.GenerateKey("EdDSA", "k1")
	if err != nil {
		f.Fatal(err)
	}
	pub, _ := json.Marshal(key.Public())
	f.Add([]byte(`{"keys":[` + string(pub) + `]}`))
	f.Add([]byte(`{"keys":[` + string(pub[:len(pub)-1]) + `,"mg_retire_after":"2025-01-01T00:00:00Z"}]}`))
	f.Add([]byte(`{"keys":[` + string(pub[:len(pub)-1]) + `,"mg_retire_after":7}]}`))
	f.Add([]byte(`{"keys":[]}`))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := parseSet(data)
		if err != nil {
			return
		}
		kept, _ := retire(keys, now, now.Add(time.Hour))
		if len(kept) == 0 {
			return
		}
		out, err := encodeSet(kept)
		if err != nil {
			return
		}
		var doc struct {
			Keys []map[string]any `json:"keys"`
		}
		if err := json.Unmarshal(out, &doc); err != nil {
			t.Fatal(err)
		}
		for _, k := range doc.Keys {
			if s, ok := k[retireMember].(string); ok {
				if m, err := time.Parse(time.RFC3339, s); err == nil && !m.After(now) {
					t.Fatalf("kept a retired key: %v", k)
				}
			}
		}
	})
}
