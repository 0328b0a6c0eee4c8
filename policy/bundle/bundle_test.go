package bundle_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/policy/bundle"
)

func keys(t testing.TB, name string) (note.Signer, note.Verifier) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

const basePolicy = `rules:
  - id: read
    effect: permit
    tools: ["tickets.get"]
`

func signed(t testing.TB, version uint64, s note.Signer, files ...bundle.File) []byte {
	t.Helper()
	if files == nil {
		files = []bundle.File{{Name: "base.yaml", Data: []byte(basePolicy)}}
	}
	b, err := bundle.Build(version, time.Date(2026, 12, 2, 11, 0, 0, 0, time.UTC), files)
	if err != nil {
		t.Fatal(err)
	}
	if s != nil {
		if err := b.Sign(s); err != nil {
			t.Fatal(err)
		}
	}
	data, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	s1, v1 := keys(t, "policy.example/a")
	s2, v2 := keys(t, "policy.example/b")
	data := signed(t, 7, s1, bundle.File{Name: "a.yaml", Data: []byte(basePolicy)}, bundle.File{Name: "sub/b.yml", Data: []byte("rules: []\n")})
	b, err := bundle.Open(data, note.VerifierList(v1))
	if err != nil {
		t.Fatal(err)
	}
	if b.Manifest.Version != 7 || len(b.Files) != 2 || b.Version() != "bundle-7" {
		t.Fatalf("opened %+v", b.Manifest)
	}
	set, err := b.Policy(policy.Options{})
	if err != nil || set.Version() != "bundle-7" || len(set.Rules()) != 1 {
		t.Fatalf("policy: %v %v", set, err)
	}
	// Countersigning keeps the first signature.
	if err := b.Sign(s2); err != nil {
		t.Fatal(err)
	}
	data2, _ := b.Marshal()
	for _, v := range []note.Verifier{v1, v2} {
		if _, err := bundle.Open(data2, note.VerifierList(v)); err != nil {
			t.Fatalf("countersigned bundle with %s: %v", v.Name(), err)
		}
	}
	if got := b.Signers(); len(got) != 2 {
		t.Fatalf("signers %v", got)
	}
	// An unknown key, or no key, refuses.
	_, v3 := keys(t, "policy.example/c")
	for _, vs := range []note.Verifiers{note.VerifierList(v3), nil} {
		if _, err := bundle.Open(data, vs); !errors.Is(err, bundle.ErrBadSignature) {
			t.Fatalf("want ErrBadSignature, got %v", err)
		}
	}
	// Unsigned refuses.
	if _, err := bundle.Open(signed(t, 1, nil), note.VerifierList(v1)); !errors.Is(err, bundle.ErrBadSignature) {
		t.Fatalf("unsigned: %v", err)
	}
}

// Invariant: any change to a signed bundle's bytes is either refused or
// yields exactly the same manifest and files (a change JSON ignores, such as
// whitespace): a verified bundle is the bundle that was signed.
func TestTamperProperty(t *testing.T) {
	t.Parallel()
	s, v := keys(t, "policy.example/a")
	data := signed(t, 3, s)
	orig, err := bundle.Open(data, note.VerifierList(v))
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := orig.Marshal()
	for i := range data {
		for _, delta := range []byte{1, 0x20, 0x80} {
			mut := bytes.Clone(data)
			mut[i] ^= delta
			b, err := bundle.Open(mut, note.VerifierList(v))
			if err != nil {
				continue
			}
			got, _ := b.Marshal()
			if !bytes.Equal(got, ref) {
				t.Fatalf("byte %d ^ %#x: a changed bundle verified:\n%s", i, delta, got)
			}
		}
	}
}

func TestBuildRejects(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for name, tc := range map[string]struct {
		v     uint64
		at    time.Time
		files []bundle.File
	}{
		"version 0":     {0, now, []bundle.File{{Name: "a.yaml"}}},
		"no time":       {1, time.Time{}, []bundle.File{{Name: "a.yaml"}}},
		"no files":      {1, now, nil},
		"absolute":      {1, now, []bundle.File{{Name: "/etc/a.yaml"}}},
		"dotdot":        {1, now, []bundle.File{{Name: "../a.yaml"}}},
		"unclean":       {1, now, []bundle.File{{Name: "a/./b.yaml"}}},
		"space":         {1, now, []bundle.File{{Name: "a b.yaml"}}},
		"newline":       {1, now, []bundle.File{{Name: "a\nfile x.yaml 0 00"}}},
		"not yaml":      {1, now, []bundle.File{{Name: "a.json"}}},
		"duplicate":     {1, now, []bundle.File{{Name: "a.yaml"}, {Name: "a.yaml"}}},
		"backslash":     {1, now, []bundle.File{{Name: `a\b.yaml`}}},
		"empty name":    {1, now, []bundle.File{{Name: ""}}},
		"control char":  {1, now, []bundle.File{{Name: "a\x7f.yaml"}}},
		"invalid utf-8": {1, now, []bundle.File{{Name: "a\xff.yaml"}}},
	} {
		if _, err := bundle.Build(tc.v, tc.at, tc.files); !errors.Is(err, bundle.ErrMalformed) {
			t.Errorf("%s: want ErrMalformed, got %v", name, err)
		}
	}
	if _, err := bundle.Parse(make([]byte, bundle.MaxBytes+1)); !errors.Is(err, bundle.ErrMalformed) {
		t.Errorf("oversize: %v", err)
	}
	var nilb *bundle.Bundle
	if _, err := nilb.Marshal(); err == nil {
		t.Error("nil Marshal")
	}
	if err := nilb.Sign(); err == nil {
		t.Error("nil Sign")
	}
}

// target records what a Source did, like an enforcer would.
type target struct {
	mu       sync.Mutex
	running  *policy.Set
	rejected []string
	compile  func(*policy.Set) error
}

func (t *target) SetPolicy(_ context.Context, set *policy.Set) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.compile != nil {
		if err := t.compile(set); err != nil {
			t.rejected = append(t.rejected, set.Version()+": "+err.Error())
			return err
		}
	}
	t.running = set
	return nil
}

func (t *target) RejectPolicy(_ context.Context, version string, reason error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.rejected = append(t.rejected, version+": "+reason.Error())
	return nil
}

// Invariant: the running policy only ever moves to a newer, validly signed
// bundle that compiles; every refusal is recorded and leaves it as it was.
func TestSourceSequence(t *testing.T) {
	t.Parallel()
	s, v := keys(t, "policy.example/a")
	bad, _ := keys(t, "policy.example/a") // same name, other key
	var mu sync.Mutex
	var body []byte
	var requests, notModified int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		requests++
		etag := fmt.Sprintf(`"%x"`, sha256.Sum256(body)) // a weaker tag collided now and then: a 304 for a new body
		if r.Header.Get("If-None-Match") == etag {
			notModified++
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
		w.Write(body)
	}))
	defer srv.Close()
	src, err := bundle.NewSource(srv.URL, bundle.SourceOptions{Keys: note.VerifierList(v)})
	if err != nil {
		t.Fatal(err)
	}
	tg := &target{compile: func(set *policy.Set) error {
		for _, r := range set.Rules() {
			if r.ID == "broken" {
				return errors.New("does not compile for tickets.get")
			}
		}
		return nil
	}}
	ctx := context.Background()
	serve := func(b []byte) { mu.Lock(); body = b; mu.Unlock() }
	step := func(name string, b []byte, wantErr error, wantRunning string) {
		t.Helper()
		if b != nil {
			serve(b)
		}
		n := len(tg.rejected)
		_, err := src.Update(ctx, tg)
		if !errors.Is(err, wantErr) || (wantErr == nil) != (err == nil) {
			t.Fatalf("%s: err %v, want %v", name, err, wantErr)
		}
		if wantErr != nil && len(tg.rejected) != n+1 {
			t.Fatalf("%s: refusal not recorded (%v)", name, tg.rejected)
		}
		if got := tg.running.Version(); got != wantRunning {
			t.Fatalf("%s: running %s, want %s", name, got, wantRunning)
		}
	}
	serve(signed(t, 1, s))
	if _, err := src.Update(ctx, tg); err != nil || tg.running.Version() != "bundle-1" {
		t.Fatalf("first: %v", err)
	}
	step("unchanged (304)", nil, nil, "bundle-1")
	if notModified != 1 {
		t.Fatalf("no conditional fetch: %d requests, %d not modified", requests, notModified)
	}
	step("bad signature", signed(t, 2, bad), bundle.ErrBadSignature, "bundle-1")
	step("unsigned", signed(t, 2, nil), bundle.ErrBadSignature, "bundle-1")
	broken := bundle.File{Name: "x.yaml", Data: []byte("rules:\n  - id: broken\n    effect: permit\n    tools: [\"*\"]\n")}
	step("does not compile", signed(t, 2, s, broken), bundle.ErrPolicy, "bundle-1")
	step("does not parse", signed(t, 2, s, bundle.File{Name: "x.yaml", Data: []byte("rules: [")}), bundle.ErrPolicy, "bundle-1")
	step("v3", signed(t, 3, s), nil, "bundle-3")
	step("older", signed(t, 2, s, bundle.File{Name: "y.yaml", Data: []byte(basePolicy)}), bundle.ErrNotNewer, "bundle-3")
	step("same version again", signed(t, 3, s, bundle.File{Name: "z.yaml", Data: []byte(basePolicy)}), bundle.ErrNotNewer, "bundle-3")
	step("oversize", append(signed(t, 4, s), bytes.Repeat([]byte(" "), bundle.MaxBytes)...), bundle.ErrMalformed, "bundle-3")
	step("v4", signed(t, 4, s), nil, "bundle-4")
	if src.Current() != 4 {
		t.Fatalf("current %d", src.Current())
	}
}

func TestSourceURLRules(t *testing.T) {
	t.Parallel()
	_, v := keys(t, "k")
	for _, u := range []string{"http://policy.example/b.json", "ftp://127.0.0.1/b", "file:///etc/b.json", "http:///b"} {
		if _, err := bundle.NewSource(u, bundle.SourceOptions{Keys: note.VerifierList(v)}); err == nil {
			t.Errorf("%s accepted", u)
		}
	}
	for _, u := range []string{"https://policy.example/b.json", "http://127.0.0.1:8080/b.json", "http://localhost/b", "http://[::1]/b"} {
		if _, err := bundle.NewSource(u, bundle.SourceOptions{Keys: note.VerifierList(v)}); err != nil {
			t.Errorf("%s: %v", u, err)
		}
	}
	if _, err := bundle.NewSource("https://x/b", bundle.SourceOptions{}); err == nil {
		t.Error("no keys accepted")
	}
	if _, err := (&bundle.Source{}).Update(context.Background(), nil); err == nil || !strings.Contains(err.Error(), "nil target") {
		t.Errorf("nil target: %v", err)
	}
}

func FuzzOpen(f *testing.F) {
	s, v := keys(f, "policy.example/a")
	f.Add(signed(f, 1, s))
	f.Add(signed(f, 2, nil))
	f.Add([]byte(`{"manifest":"modelguard policy bundle v1\nversion 1\ncreated 2026-12-02T11:00:00Z\nfile a.yaml 0 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n","files":[{"name":"a.yaml","data":""}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := bundle.Open(data, note.VerifierList(v))
		if err != nil {
			return
		}
		if _, err := b.Policy(policy.Options{}); err != nil && !errors.Is(err, bundle.ErrPolicy) {
			t.Fatalf("untyped policy error: %v", err)
		}
		if _, err := bundle.Parse(data); err != nil {
			t.Fatalf("Open accepted what Parse refuses: %v", err)
		}
	})
}
