package httpguard_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/identity/identitytest"
	"github.com/modelguard/modelguard/tools/httpguard"
)

// echo reports the identity the middleware put into the request context.
var echo = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	tok, okTok := identity.TokenFromContext(r.Context())
	c, okClaims := identity.FromContext(r.Context())
	if !okTok || !okClaims {
		http.Error(w, "no identity in context", http.StatusInternalServerError)
		return
	}
	io.WriteString(w, c.Subject+" "+c.Agent+" "+tok)
})

func serve(t *testing.T, h http.Handler, header http.Header) *http.Response {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/tools", nil)
	r.Header = header
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func TestAdmitsVerifiedToken(t *testing.T) {
	t.Parallel()
	k := identitytest.New(t, identitytest.Options{})
	h := httpguard.Middleware(k.Verifier(t, identity.VerifierOptions{}), httpguard.Options{})(echo)
	tok := k.Mint(t, identity.Claims{Subject: "model:a", Agent: "support-bot"})
	for _, scheme := range []string{"Bearer", "bearer", "BEARER"} {
		res := serve(t, h, http.Header{"Authorization": {scheme + " " + tok}})
		body, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK || string(body) != "model:a support-bot "+tok {
			t.Errorf("%s: got %d %q", scheme, res.StatusCode, body)
		}
	}
}

func TestRefuses(t *testing.T) {
	t.Parallel()
	k := identitytest.New(t, identitytest.Options{})
	tok := k.Mint(t, identity.Claims{})
	cases := []struct {
		name      string
		header    http.Header
		err       error
		challenge string
	}{
		{"no header", http.Header{}, identity.ErrNoToken, `Bearer`},
		{"basic", http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}}, httpguard.ErrNotBearer, `Bearer`},
		{"scheme only", http.Header{"Authorization": {"Bearer"}}, httpguard.ErrMalformed, `Bearer error="invalid_token"`},
		{"empty token", http.Header{"Authorization": {"Bearer "}}, httpguard.ErrMalformed, `Bearer error="invalid_token"`},
		{"two spaces", http.Header{"Authorization": {"Bearer  " + tok}}, httpguard.ErrMalformed, `Bearer error="invalid_token"`},
		{"two tokens", http.Header{"Authorization": {"Bearer " + tok + " " + tok}}, httpguard.ErrMalformed, `Bearer error="invalid_token"`},
		{"two headers", http.Header{"Authorization": {"Bearer " + tok, "Bearer " + tok}}, httpguard.ErrMultipleAuthorization, `Bearer error="invalid_token"`},
	}
	for _, b := range k.Broken(t) {
		cases = append(cases, struct {
			name      string
			header    http.Header
			err       error
			challenge string
		}{b.Name, http.Header{"Authorization": {"Bearer " + b.Token}}, b.Err, `Bearer error="invalid_token"`})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var got error
			var once sync.Once
			opts := httpguard.Options{OnError: func(_ *http.Request, err error) { once.Do(func() { got = err }) }}
			h := httpguard.Middleware(k.Verifier(t, identity.VerifierOptions{}), opts)(echo)
			res := serve(t, h, c.header)
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", res.StatusCode)
			}
			if ch := res.Header.Get("WWW-Authenticate"); ch != c.challenge {
				t.Errorf("WWW-Authenticate %q, want %q", ch, c.challenge)
			}
			if !errors.Is(got, c.err) {
				t.Errorf("OnError got %v, want %v", got, c.err)
			}
			if strings.TrimSpace(string(body)) != "Unauthorized" {
				t.Errorf("body %q says more than Unauthorized", body)
			}
		})
	}
}

func TestChallengeParameters(t *testing.T) {
	t.Parallel()
	k := identitytest.New(t, identitytest.Options{})
	h := httpguard.Middleware(k.Verifier(t, identity.VerifierOptions{}), httpguard.Options{
		Realm: "tools", ResourceMetadata: "https://tools.example/.well-known/oauth-protected-resource",
	})(echo)
	res := serve(t, h, http.Header{"Authorization": {"Bearer " + k.Expired(t)}})
	want := `Bearer realm="tools", error="invalid_token", resource_metadata="https://tools.example/.well-known/oauth-protected-resource"`
	if got := res.Header.Get("WWW-Authenticate"); got != want {
		t.Errorf("WWW-Authenticate\n got %s\nwant %s", got, want)
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("401 is cacheable")
	}
}

func TestNilVerifierPanics(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("Middleware(nil) did not panic")
		}
	}()
	httpguard.Middleware(nil, httpguard.Options{})
}

func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"", "Bearer", "Bearer ", "Bearer abc", "bearer a.b.c", "Basic x", "Bearer  x", "Bearer a b", " Bearer x", "Bearer\tx"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Authorization", h)
		tok, err := httpguard.BearerToken(r)
		if err != nil {
			if tok != "" {
				t.Fatalf("%q: token %q with error %v", h, tok, err)
			}
			return
		}
		if tok == "" || strings.ContainsAny(tok, " \t\r\n") || !strings.EqualFold(h[:7], "bearer ") || h[7:] != tok {
			t.Fatalf("%q: accepted token %q", h, tok)
		}
	})
}

func BenchmarkMiddleware(b *testing.B) {
	k := identitytest.New(b, identitytest.Options{})
	h := httpguard.Middleware(k.Verifier(b, identity.VerifierOptions{}), httpguard.Options{})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	r := httptest.NewRequest(http.MethodGet, "/tools", nil)
	r.Header.Set("Authorization", "Bearer "+k.Mint(b, identity.Claims{Agent: "bench"}))
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}
