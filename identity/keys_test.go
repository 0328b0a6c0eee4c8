package identity_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/identity"
)

// testKeys are private keys of every kind the tests need, generated once.
type testKeys struct {
	ed             ed25519.PrivateKey
	p256, p384     *ecdsa.PrivateKey
	rsa2048, rsa1k *rsa.PrivateKey
}

var keysOnce = sync.OnceValue(func() testKeys {
	var k testKeys
	var err error
	_, k.ed, err = ed25519.GenerateKey(rand.Reader)
	check(err)
	k.p256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(err)
	k.p384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	check(err)
	k.rsa2048, err = rsa.GenerateKey(rand.Reader, 2048)
	check(err)
	k.rsa1k, err = rsa.GenerateKey(rand.Reader, 1024)
	check(err)
	return k
})

func check(err error) {
	if err != nil {
		panic(err)
	}
}

func jwk(key any, kid, alg, use string) jose.JSONWebKey {
	return jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: alg, Use: use}
}

func TestNewKeySetHygiene(t *testing.T) {
	t.Parallel()
	k := keysOnce()
	edPub := k.ed.Public()
	tests := []struct {
		name string
		keys []jose.JSONWebKey
		want string // "" when the set is accepted; else a fragment of the error
	}{
		{"Ed25519", []jose.JSONWebKey{jwk(edPub, "a", "EdDSA", "sig")}, ""},
		{"Ed25519 no alg no use", []jose.JSONWebKey{jwk(edPub, "a", "", "")}, ""},
		{"P-256", []jose.JSONWebKey{jwk(k.p256.Public(), "a", "ES256", "")}, ""},
		{"RSA 2048 RS256", []jose.JSONWebKey{jwk(k.rsa2048.Public(), "a", "RS256", "")}, ""},
		{"RSA 2048 PS256", []jose.JSONWebKey{jwk(k.rsa2048.Public(), "a", "PS256", "")}, ""},
		{"two keys", []jose.JSONWebKey{jwk(edPub, "a", "", ""), jwk(k.p256.Public(), "b", "", "")}, ""},
		{"empty", nil, "empty"},
		{"private Ed25519", []jose.JSONWebKey{jwk(k.ed, "a", "EdDSA", "")}, "private"},
		{"private P-256", []jose.JSONWebKey{jwk(k.p256, "a", "", "")}, "private"},
		{"private RSA", []jose.JSONWebKey{jwk(k.rsa2048, "a", "", "")}, "private"},
		{"symmetric", []jose.JSONWebKey{jwk([]byte("0123456789abcdef0123456789abcdef"), "a", "HS256", "")}, "symmetric"},
		{"nil key", []jose.JSONWebKey{jwk(nil, "a", "", "")}, "no key material"},
		{"short Ed25519", []jose.JSONWebKey{jwk(ed25519.PublicKey{1, 2}, "a", "", "")}, "invalid"},
		{"RSA 1024", []jose.JSONWebKey{jwk(k.rsa1k.Public(), "a", "RS256", "")}, "1024 bits"},
		{"P-384", []jose.JSONWebKey{jwk(k.p384.Public(), "a", "", "")}, "P-384 key cannot verify ES256"},
		{"P-384 ES384", []jose.JSONWebKey{jwk(k.p384.Public(), "a", "ES384", "")}, "not supported"},
		{"use enc", []jose.JSONWebKey{jwk(edPub, "a", "", "enc")}, `use "enc"`},
		{"Ed25519 alg ES256", []jose.JSONWebKey{jwk(edPub, "a", "ES256", "")}, "Ed25519 key cannot verify ES256"},
		{"P-256 alg EdDSA", []jose.JSONWebKey{jwk(k.p256.Public(), "a", "EdDSA", "")}, "P-256 key cannot verify EdDSA"},
		{"RSA alg ES256", []jose.JSONWebKey{jwk(k.rsa2048.Public(), "a", "ES256", "")}, "RSA key cannot verify ES256"},
		{"Ed25519 alg HS256", []jose.JSONWebKey{jwk(edPub, "a", "HS256", "")}, "not supported"},
		{"Ed25519 alg none", []jose.JSONWebKey{jwk(edPub, "a", "none", "")}, "not supported"},
		{"empty kid", []jose.JSONWebKey{jwk(edPub, "", "", "")}, "empty kid"},
		{"duplicate kid", []jose.JSONWebKey{jwk(edPub, "a", "", ""), jwk(k.p256.Public(), "a", "", "")}, "already used"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := identity.NewKeySet(tt.keys...)
			if tt.want == "" {
				if err != nil || len(s.Keys()) != len(tt.keys) {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if s != nil {
				t.Error("got a partial set")
			}
			wantOnly(t, err, identity.ErrKeySet)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v\nwant it to mention %q", err, tt.want)
			}
		})
	}
}

func TestNewKeySetReportsEveryProblem(t *testing.T) {
	t.Parallel()
	k := keysOnce()
	_, err := identity.NewKeySet(jwk(k.ed, "", "", "enc"), jwk(k.ed.Public(), "ok", "", ""), jwk([]byte("k"), "ok", "", ""))
	for _, want := range []string{"key 0", "empty kid", `use "enc"`, "private", "key 2", "symmetric", "already used by key 1"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v\nwant it to mention %q", err, want)
		}
	}
}

func TestKeySetLookup(t *testing.T) {
	t.Parallel()
	k := keysOnce()
	s, err := identity.NewKeySet(jwk(k.ed.Public(), "a", "", ""), jwk(k.p256.Public(), "b", "", ""))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Key(ctx, "b"); err != nil || got.KeyID != "b" {
		t.Errorf("Key(b) = %v, %v", got, err)
	}
	_, err = s.Key(ctx, "c")
	wantOnly(t, err, identity.ErrUnknownKey)
	keys := s.Keys()
	keys[0].KeyID = "changed"
	if got, _ := s.Key(ctx, "a"); got == nil || got.KeyID != "a" {
		t.Error("Keys exposed the set's own slice")
	}
}

func TestParseKeySet(t *testing.T) {
	t.Parallel()
	k := keysOnce()
	good, err := identity.NewKeySet(jwk(k.ed.Public(), "a", "EdDSA", "sig"), jwk(k.rsa2048.Public(), "r", "PS256", ""))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := json.Marshal(good)
	if err != nil {
		t.Fatal(err)
	}
	priv, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk(k.ed, "p", "", "")}})
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{"round trip", string(doc), ""},
		{"private d", string(priv), "private"},
		{"oct", `{"keys":[{"kty":"oct","kid":"s","k":"AAAA"}]}`, "symmetric"},
		{"unknown kty", `{"keys":[{"kty":"XYZ","kid":"s"}]}`, "key 0"},
		{"X25519", `{"keys":[{"kty":"OKP","crv":"X25519","kid":"s","x":"AAAA"}]}`, "key 0"},
		{"one good one bad", `{"keys":[` + string(doc[9:len(doc)-2]) + `,{"kty":"oct","kid":"s","k":"AAAA"}]}`, "key 2"},
		{"no keys member", `{}`, "empty"},
		{"empty keys", `{"keys":[]}`, "empty"},
		{"not JSON", `keys`, "not a JWK Set"},
		{"duplicate member", `{"keys":[],"keys":[]}`, "not a JWK Set"},
		{"too large", `{"keys":[],"x":"` + strings.Repeat("a", 1<<20) + `"}`, "exceeds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, err := identity.ParseKeySet([]byte(tt.doc))
			if tt.want == "" {
				if err != nil || len(s.Keys()) != 2 {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if s != nil {
				t.Error("got a partial set")
			}
			wantOnly(t, err, identity.ErrKeySet)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v\nwant it to mention %q", err, tt.want)
			}
		})
	}
}

func TestMarshalWritesOnlyPublicKeys(t *testing.T) {
	t.Parallel()
	k := keysOnce()
	s, err := identity.NewKeySet(jwk(k.ed.Public(), "a", "", ""))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := json.Marshal(s)
	if err != nil || strings.Contains(string(doc), `"d"`) || !strings.Contains(string(doc), `"keys"`) {
		t.Errorf("MarshalJSON = %s, %v", doc, err)
	}
	empty, err := json.Marshal(&identity.KeySet{})
	if err != nil || string(empty) != `{"keys":[]}` {
		t.Errorf("zero KeySet marshals to %s, %v", empty, err)
	}
}

func TestLoadKeySet(t *testing.T) {
	t.Parallel()
	k := keysOnce()
	s, _ := identity.NewKeySet(jwk(k.ed.Public(), "a", "", ""))
	doc, _ := json.Marshal(s)
	dir := t.TempDir()
	path := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := identity.LoadKeySet(path); err != nil || len(got.Keys()) != 1 {
		t.Fatalf("LoadKeySet = %v, %v", got, err)
	}
	if _, err := identity.LoadKeySet(filepath.Join(dir, "missing.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"keys":[{"kty":"oct","kid":"s","k":"AAAA"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := identity.LoadKeySet(bad); !errors.Is(err, identity.ErrKeySet) || !strings.Contains(err.Error(), bad) {
		t.Errorf("bad file: %v, want ErrKeySet naming the file", err)
	}
}
