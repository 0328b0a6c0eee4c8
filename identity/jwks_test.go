package identity_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/identity"
)

// jwksServer serves a JWK Set over TLS on 127.0.0.1 and counts requests.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	doc     []byte
	status  int
	cc      string // Cache-Control
	ctype   string
	hits    atomic.Int32
	paths   sync.Map
	clock   *manualClock
	etagHit atomic.Int32
}

func newJWKSServer(t *testing.T, keys ...jose.JSONWebKey) *jwksServer {
	return newJWKSServerTB(t, keys...)
}

func newJWKSServerTB(t testing.TB, keys ...jose.JSONWebKey) *jwksServer {
	t.Helper()
	s := &jwksServer{status: http.StatusOK, ctype: "application/jwk-set+json", clock: newManualClock()}
	s.setKeys(t, keys...)
	s.Server = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(w http.ResponseWriter, r *http.Request) {
	s.hits.Add(1)
	s.paths.Store(r.URL.RequestURI(), true)
	s.mu.Lock()
	defer s.mu.Unlock()
	etag := fmt.Sprintf(`"%x"`, sha256.Sum256(s.doc))
	if s.status == http.StatusOK && r.Header.Get("If-None-Match") == etag {
		s.etagHit.Add(1)
		w.WriteHeader(http.StatusNotModified)
		return
	}
	w.Header().Set("Content-Type", s.ctype)
	w.Header().Set("ETag", etag)
	if s.cc != "" {
		w.Header().Set("Cache-Control", s.cc)
	}
	w.WriteHeader(s.status)
	w.Write(s.doc)
}

// set publishes the public halves of keys.
func (s *jwksServer) set(t *testing.T, keys ...jose.JSONWebKey) { s.setKeys(t, keys...) }

func (s *jwksServer) setKeys(t testing.TB, keys ...jose.JSONWebKey) {
	t.Helper()
	pub := make([]jose.JSONWebKey, len(keys))
	for i, k := range keys {
		pub[i] = k.Public()
	}
	doc, err := json.Marshal(jose.JSONWebKeySet{Keys: pub})
	check(err)
	s.setDoc(doc)
}

func (s *jwksServer) setDoc(doc []byte) {
	s.mu.Lock()
	s.doc = doc
	s.mu.Unlock()
}

func (s *jwksServer) setStatus(code int) {
	s.mu.Lock()
	s.status = code
	s.mu.Unlock()
}

func (s *jwksServer) remote(t *testing.T, opts identity.RemoteKeysOptions) *identity.RemoteKeys {
	t.Helper()
	opts.Client = s.Client()
	if opts.Now == nil {
		opts.Now = s.clock.now
	}
	r, err := identity.NewRemoteKeys(s.URL+"/jwks", opts)
	check(err)
	return r
}

type manualClock struct{ ns atomic.Int64 }

func newManualClock() *manualClock {
	c := &manualClock{}
	c.ns.Store(t0.UnixNano())
	return c
}

func (c *manualClock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *manualClock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func newKey(t *testing.T, kid string) jose.JSONWebKey { return newKeyTB(t, kid) }

func newKeyTB(t testing.TB, kid string) jose.JSONWebKey {
	t.Helper()
	k, err := identity.GenerateKey(jose.EdDSA, kid)
	check(err)
	return k
}

func wantKey(t *testing.T, r *identity.RemoteKeys, kid string, want error) {
	t.Helper()
	k, err := r.Key(context.Background(), kid)
	if want == nil {
		if err != nil || k == nil || k.KeyID != kid {
			t.Fatalf("Key(%q) = %v, %v", kid, k, err)
		}
		return
	}
	wantOnly(t, err, want)
}

func wantHits(t *testing.T, s *jwksServer, n int32) {
	t.Helper()
	if got := s.hits.Load(); got != n {
		t.Fatalf("%d requests to the JWK Set endpoint, want %d", got, n)
	}
}

func TestRemoteKeysSchedule(t *testing.T) {
	t.Parallel()
	s := newJWKSServer(t, newKey(t, "k1"))
	r := s.remote(t, identity.RemoteKeysOptions{})
	wantKey(t, r, "k1", nil)
	wantKey(t, r, "k1", nil)
	wantHits(t, s, 1)
	s.clock.advance(identity.DefaultRefresh - time.Second)
	wantKey(t, r, "k1", nil)
	wantHits(t, s, 1)
	s.clock.advance(time.Second)
	wantKey(t, r, "k1", nil)
	wantHits(t, s, 2)
	if s.etagHit.Load() != 1 {
		t.Errorf("refresh was not conditional: %d 304s", s.etagHit.Load())
	}
}

func TestRemoteKeysCacheControl(t *testing.T) {
	t.Parallel()
	tests := []struct {
		cc   string
		next time.Duration // when the next fetch is due
	}{
		{"max-age=120", 2 * time.Minute},
		{"public, MAX-AGE=\"120\"", 2 * time.Minute},
		{"max-age=1", identity.DefaultMinRefresh},
		{"max-age=999999999999", identity.DefaultMaxRefresh},
		{"no-store", identity.DefaultMinRefresh},
		{"max-age=600, no-cache", identity.DefaultMinRefresh},
		{"max-age=60, max-age=120", identity.DefaultRefresh},
		{"max-age=abc", identity.DefaultRefresh},
		{"max-age", identity.DefaultRefresh},
		{"", identity.DefaultRefresh},
	}
	for _, tt := range tests {
		t.Run(tt.cc, func(t *testing.T) {
			t.Parallel()
			s := newJWKSServer(t, newKey(t, "k1"))
			s.cc = tt.cc
			r := s.remote(t, identity.RemoteKeysOptions{})
			wantKey(t, r, "k1", nil)
			s.clock.advance(tt.next - time.Second)
			wantKey(t, r, "k1", nil)
			wantHits(t, s, 1)
			s.clock.advance(time.Second)
			wantKey(t, r, "k1", nil)
			wantHits(t, s, 2)
		})
	}
}

// TestRemoteKeysUnknownKidFlood sends a thousand made-up kids at once: they
// cost one request, and another only after MinRefresh.
func TestRemoteKeysUnknownKidFlood(t *testing.T) {
	t.Parallel()
	s := newJWKSServer(t, newKey(t, "k1"))
	r := s.remote(t, identity.RemoteKeysOptions{})
	wantKey(t, r, "k1", nil)
	var wg sync.WaitGroup
	for i := range 1000 {
		wg.Go(func() {
			if _, err := r.Key(context.Background(), "made-up-"+itoa(i)); err == nil {
				t.Error("made-up kid found")
			}
		})
	}
	wg.Wait()
	wantHits(t, s, 2)
	s.clock.advance(identity.DefaultMinRefresh)
	wantKey(t, r, "made-up", identity.ErrUnknownKey)
	wantHits(t, s, 3)
}

// TestRemoteKeysNewKeyAtOnce publishes a key and presents its kid: one
// forced fetch finds it, though the set is not due.
func TestRemoteKeysNewKeyAtOnce(t *testing.T) {
	t.Parallel()
	k1, k2 := newKey(t, "k1"), newKey(t, "k2")
	s := newJWKSServer(t, k1)
	r := s.remote(t, identity.RemoteKeysOptions{})
	wantKey(t, r, "k1", nil)
	s.set(t, k1, k2)
	wantKey(t, r, "k2", nil)
	s.set(t, k2)
	s.clock.advance(identity.DefaultRefresh)
	wantKey(t, r, "k2", nil)
	wantKey(t, r, "k1", identity.ErrUnknownKey)
}

// TestRemoteKeysOutage serves the set, then fails: the last good set is used
// until MaxStale after the last good fetch, retried every MinRefresh; then
// Key fails closed, and recovers when the endpoint does.
func TestRemoteKeysOutage(t *testing.T) {
	t.Parallel()
	s := newJWKSServer(t, newKey(t, "k1"))
	r := s.remote(t, identity.RemoteKeysOptions{})
	wantKey(t, r, "k1", nil)
	s.setStatus(http.StatusServiceUnavailable)
	s.clock.advance(identity.DefaultRefresh)
	wantKey(t, r, "k1", nil) // fetch fails, last good set used
	wantHits(t, s, 2)
	wantKey(t, r, "k1", nil) // no retry before MinRefresh
	wantHits(t, s, 2)
	s.clock.advance(identity.DefaultMinRefresh)
	wantKey(t, r, "k1", nil)
	wantHits(t, s, 3)
	s.clock.advance(identity.DefaultMaxStale - identity.DefaultRefresh - identity.DefaultMinRefresh)
	wantKey(t, r, "k1", nil) // exactly MaxStale old
	s.clock.advance(time.Second)
	wantKey(t, r, "k1", identity.ErrKeysUnavailable)
	s.setStatus(http.StatusOK)
	s.clock.advance(identity.DefaultMinRefresh)
	wantKey(t, r, "k1", nil)
}

// TestRemoteKeysBadDocuments serves documents that must not replace the last
// good set.
func TestRemoteKeysBadDocuments(t *testing.T) {
	t.Parallel()
	for name, doc := range map[string]string{
		"symmetric key":  `{"keys":[{"kty":"oct","kid":"s","k":"AAAAAAAAAAAAAAAAAAAAAA"}]}`,
		"duplicate kid":  "dup",
		"not JSON":       `<html>`,
		"empty set":      `{"keys":[]}`,
		"wrong use":      "use",
		"truncated JSON": `{"keys":[`,
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			k1 := newKey(t, "k1")
			s := newJWKSServer(t, k1)
			r := s.remote(t, identity.RemoteKeysOptions{})
			wantKey(t, r, "k1", nil)
			s.setDoc([]byte(badDoc(t, doc, k1)))
			if err := r.Refresh(context.Background()); err == nil {
				t.Fatal("Refresh accepted a bad document")
			}
			wantKey(t, r, "k1", nil)
			if len(r.Keys()) != 1 {
				t.Errorf("keys = %v", r.Keys())
			}
		})
	}
}

func badDoc(t *testing.T, doc string, k jose.JSONWebKey) string {
	t.Helper()
	pub, err := json.Marshal(k.Public())
	check(err)
	switch doc {
	case "dup":
		return `{"keys":[` + string(pub) + `,` + string(pub) + `]}`
	case "use":
		var m map[string]any
		check(json.Unmarshal(pub, &m))
		m["use"] = "enc"
		return `{"keys":[` + string(mustJSON(m)) + `]}`
	}
	return doc
}

func TestRemoteKeysRefusesResponses(t *testing.T) {
	t.Parallel()
	for name, f := range map[string]func(s *jwksServer){
		"404":       func(s *jwksServer) { s.setStatus(http.StatusNotFound) },
		"text/html": func(s *jwksServer) { s.ctype = "text/html" },
		"no type":   func(s *jwksServer) { s.ctype = "" },
		"huge":      func(s *jwksServer) { s.setDoc([]byte(`{"keys":[],"pad":"` + strings.Repeat("x", 2<<20) + `"}`)) },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newJWKSServer(t, newKey(t, "k1"))
			if f != nil {
				f(s)
			}
			r := s.remote(t, identity.RemoteKeysOptions{})
			wantKey(t, r, "k1", identity.ErrKeysUnavailable)
			wantKey(t, r, "k1", identity.ErrKeysUnavailable) // no second request before MinRefresh
			wantHits(t, s, 1)
		})
	}
}

// TestRemoteKeysDefaultClientRefusesRedirect uses the default client on a
// plain-HTTP loopback server that redirects.
func TestRemoteKeysDefaultClientRefusesRedirect(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.RedirectHandler("https://attacker.example/jwks", http.StatusFound))
	defer srv.Close()
	r, err := identity.NewRemoteKeys(srv.URL, identity.RemoteKeysOptions{})
	check(err)
	_, err = r.Key(context.Background(), "k")
	wantOnly(t, err, identity.ErrKeysUnavailable)
	if !strings.Contains(err.Error(), "redirect") {
		t.Errorf("error does not name the redirect: %v", err)
	}
}

// TestRemoteKeysKidNeverInURL presents kids made to reach other paths.
func TestRemoteKeysKidNeverInURL(t *testing.T) {
	t.Parallel()
	s := newJWKSServer(t, newKey(t, "k1"))
	r := s.remote(t, identity.RemoteKeysOptions{})
	for _, kid := range []string{"../../admin", "?kid=x", "%2e%2e/", "k1/../../x", strings.Repeat("k", 1<<16)} {
		r.Key(context.Background(), kid)
		s.clock.advance(identity.DefaultMinRefresh)
	}
	s.paths.Range(func(p, _ any) bool {
		if p != "/jwks" {
			t.Errorf("request to %q", p)
		}
		return true
	})
}

func TestNewRemoteKeysRejects(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		url  string
		opts identity.RemoteKeysOptions
	}{
		"http to a remote host": {"http://keys.example.com/jwks", identity.RemoteKeysOptions{}},
		"ftp":                   {"ftp://127.0.0.1/jwks", identity.RemoteKeysOptions{}},
		"no host":               {"https:///jwks", identity.RemoteKeysOptions{}},
		"bad URL":               {"https://[::1/jwks", identity.RemoteKeysOptions{}},
		"negative":              {"https://k.example/jwks", identity.RemoteKeysOptions{Refresh: -1}},
		"min over max":          {"https://k.example/jwks", identity.RemoteKeysOptions{MinRefresh: time.Hour, MaxRefresh: time.Minute}},
		"max over stale":        {"https://k.example/jwks", identity.RemoteKeysOptions{MaxRefresh: 2 * time.Hour}},
	} {
		if _, err := identity.NewRemoteKeys(tc.url, tc.opts); err == nil {
			t.Errorf("%s: accepted", name)
		} else {
			wantOnly(t, err, identity.ErrConfig)
		}
	}
	for _, ok := range []string{"https://keys.example.com/jwks", "http://127.0.0.1:8080/jwks", "http://localhost/jwks", "http://[::1]/jwks"} {
		if _, err := identity.NewRemoteKeys(ok, identity.RemoteKeysOptions{}); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}
