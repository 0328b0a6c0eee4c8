package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/identity"
)

// keygen runs keygen into dir and returns the key and key set paths and the
// reported kid.
func keygen(t *testing.T, dir string, extra ...string) (key, pub, kid string) {
	t.Helper()
	key, pub = filepath.Join(dir, "issuer.jwk"), filepath.Join(dir, "issuer.jwks")
	code, _, stderr := runCLI(t, append([]string{"keygen", "-out", key, "-pub", pub}, extra...)...)
	if code != exitOK {
		t.Fatalf("keygen: exit %d\n%s", code, stderr)
	}
	return key, pub, reportedKid(t, stderr)
}

func reportedKid(t *testing.T, stderr string) string {
	t.Helper()
	for line := range strings.Lines(stderr) {
		if kid, ok := strings.CutPrefix(strings.TrimSpace(line), "kid: "); ok {
			return kid
		}
	}
	t.Fatalf("no kid reported:\n%s", stderr)
	return ""
}

func readKey(t *testing.T, path string) jose.JSONWebKey {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var k jose.JSONWebKey
	if err := k.UnmarshalJSON(data); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return k
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	if runtime.GOOS == "windows" {
		return
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %04o, want %04o", path, got, want)
	}
}

func TestKeygenWritesKeyPair(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		wantAlg string
		wantKid string // empty: the thumbprint, whatever it is
	}{
		{name: "default", wantAlg: "EdDSA"},
		{name: "ES256 with kid", args: []string{"-alg", "ES256", "-kid", "issuer-2025"}, wantAlg: "ES256", wantKid: "issuer-2025"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			key, pub, kid := keygen(t, t.TempDir(), tt.args...)
			if tt.wantKid != "" && kid != tt.wantKid {
				t.Errorf("reported kid %q, want %q", kid, tt.wantKid)
			}
			assertMode(t, key, 0o600)
			priv := readKey(t, key)
			if priv.IsPublic() || priv.KeyID != kid || priv.Algorithm != tt.wantAlg {
				t.Errorf("private key: public %v, kid %q, alg %q; want private, kid %q, alg %q",
					priv.IsPublic(), priv.KeyID, priv.Algorithm, kid, tt.wantAlg)
			}
			set, err := identity.LoadKeySet(pub)
			if err != nil {
				t.Fatalf("public set does not load: %v", err)
			}
			keys := set.Keys()
			if len(keys) != 1 {
				t.Fatalf("public set has %d keys, want 1", len(keys))
			}
			if keys[0].KeyID != kid || keys[0].Algorithm != tt.wantAlg {
				t.Errorf("public key: kid %q alg %q; want %q, %q", keys[0].KeyID, keys[0].Algorithm, kid, tt.wantAlg)
			}
		})
	}
}

func TestKeygenPublicSetToStdout(t *testing.T) {
	t.Parallel()
	key := filepath.Join(t.TempDir(), "k.jwk")
	code, stdout, stderr := runCLI(t, "keygen", "-out", key)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	set, err := identity.ParseKeySet([]byte(stdout))
	if err != nil {
		t.Fatalf("stdout is not a public key set: %v\n%s", err, stdout)
	}
	if got, want := set.Keys()[0].KeyID, readKey(t, key).KeyID; got != want {
		t.Errorf("stdout set has kid %q, key file %q", got, want)
	}
}

func TestKeygenRefusesOverwrite(t *testing.T) {
	t.Parallel()
	for _, existing := range []string{"out", "pub"} {
		t.Run(existing, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			paths := map[string]string{"out": filepath.Join(dir, "k.jwk"), "pub": filepath.Join(dir, "k.jwks")}
			other := map[string]string{"out": "pub", "pub": "out"}[existing]
			writeFile(t, dir, filepath.Base(paths[existing]), "old")
			args := []string{"keygen", "-out", paths["out"], "-pub", paths["pub"]}

			code, _, stderr := runCLI(t, args...)
			if code != exitFail || !strings.Contains(stderr, "already exists") {
				t.Fatalf("exit %d, stderr %q; want %d and \"already exists\"", code, stderr, exitFail)
			}
			if data, _ := os.ReadFile(paths[existing]); string(data) != "old" {
				t.Errorf("existing file changed to %q", data)
			}
			if _, err := os.Stat(paths[other]); !os.IsNotExist(err) {
				t.Errorf("-%s written although -%s exists (stat: %v)", other, existing, err)
			}

			if code, _, stderr := runCLI(t, append(args, "-force")...); code != exitOK {
				t.Fatalf("with -force: exit %d\n%s", code, stderr)
			}
			if data, _ := os.ReadFile(paths[existing]); string(data) == "old" {
				t.Error("-force did not overwrite")
			}
			assertMode(t, paths["out"], 0o600)
		})
	}
}

func TestKeygenUsageErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := filepath.Join(dir, "k.jwk")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "no -out", args: nil, want: "-out is required"},
		{name: "bad alg", args: []string{"-out", key, "-alg", "HS256"}, want: `-alg "HS256"`},
		{name: "same file", args: []string{"-out", key, "-pub", key}, want: "same file"},
		{name: "stray argument", args: []string{"-out", key, "extra"}, want: `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runCLI(t, append([]string{"keygen"}, tt.args...)...)
			if code != exitUsage || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, exitUsage, tt.want)
			}
			if stdout != "" {
				t.Errorf("stdout %q, want empty", stdout)
			}
			if _, err := os.Stat(key); !os.IsNotExist(err) {
				t.Errorf("key written despite the error (stat: %v)", err)
			}
		})
	}
}
