package httpguard_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/identity/identitytest"
	"github.com/modelguard/modelguard/tools/httpguard"
)

// opener opens a session on any request without one, and answers 404 for
// the session "gone".
var opener = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	switch id := r.Header.Get(httpguard.SessionHeader); id {
	case "":
		w.Header().Set(httpguard.SessionHeader, r.URL.Query().Get("open"))
	case "gone":
		http.NotFound(w, r)
	}
})

func asIdentity(iss, sub string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/mcp", nil)
	return r.WithContext(identity.NewContext(context.Background(), &identity.Claims{Issuer: iss, Subject: sub}))
}

func TestSessions(t *testing.T) {
	t.Parallel()
	var mismatches []string
	s := httpguard.NewSessions(httpguard.SessionHeader, func(r *http.Request, id, owner string) {
		mismatches = append(mismatches, id+" "+owner)
	})
	h := s.Middleware(opener)
	do := func(iss, sub, method, session, open string) int {
		r := asIdentity(iss, sub)
		r.Method = method
		r.URL.RawQuery = "open=" + open
		if session != "" {
			r.Header.Set(httpguard.SessionHeader, session)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	steps := []struct {
		name                         string
		iss, sub, method, sess, open string
		want                         int
	}{
		{"A opens s1", "i", "a", "POST", "", "s1", 200},
		{"A uses s1", "i", "a", "POST", "s1", "", 200},
		{"B on s1", "i", "b", "POST", "s1", "", 403},
		{"same subject, other issuer", "j", "a", "POST", "s1", "", 403},
		{"split differently", "", "ia", "POST", "s1", "", 403},
		{"B cannot reopen s1", "i", "b", "POST", "", "s1", 200},
		{"still A's", "i", "b", "GET", "s1", "", 403},
		{"unknown session", "i", "a", "POST", "s9", "", 404},
		{"A deletes s1", "i", "a", "DELETE", "s1", "", 200},
		{"s1 forgotten", "i", "a", "POST", "s1", "", 404},
		{"no identity cannot open", "", "", "POST", "", "s2", 200},
		{"s2 unbound", "i", "a", "POST", "s2", "", 404},
	}
	for _, st := range steps {
		if got := do(st.iss, st.sub, st.method, st.sess, st.open); got != st.want {
			t.Errorf("%s: %d, want %d", st.name, got, st.want)
		}
	}
	if len(mismatches) != 4 || mismatches[0] != `s1 "i" "a"` {
		t.Errorf("mismatches reported: %q", mismatches)
	}
}

func TestSessionsForgetGoneAndOldest(t *testing.T) {
	t.Parallel()
	s := httpguard.NewSessions(httpguard.SessionHeader, nil)
	const max = 100
	httpguard.SetMaxSessions(s, max)
	h := s.Middleware(opener)
	do := func(session, open string) int {
		r := asIdentity("i", "a")
		r.URL.RawQuery = "open=" + open
		if session != "" {
			r.Header.Set(httpguard.SessionHeader, session)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	do("", "gone")
	if got := do("gone", ""); got != 404 {
		t.Fatalf("gone: %d", got)
	}
	do("", "first")
	for i := range max {
		do("", strconv.Itoa(i))
	}
	if got := do("first", ""); got != 404 {
		t.Errorf("the oldest session is still bound: %d", got)
	}
	if got := do(strconv.Itoa(max-1), ""); got != 200 {
		t.Errorf("the newest session: %d", got)
	}
}

func TestSessionsRefuseAmbiguityAndZero(t *testing.T) {
	t.Parallel()
	h := httpguard.NewSessions(httpguard.SessionHeader, nil).Middleware(opener)
	r := asIdentity("i", "a")
	r.Header.Add(httpguard.SessionHeader, "x")
	r.Header.Add(httpguard.SessionHeader, "y")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusBadRequest {
		t.Errorf("two session headers: %d", w.Code)
	}
	for name, s := range map[string]*httpguard.Sessions{"nil": nil, "zero": {}} {
		w := httptest.NewRecorder()
		s.Middleware(opener).ServeHTTP(w, asIdentity("i", "a"))
		if w.Code != http.StatusInternalServerError {
			t.Errorf("%s Sessions: %d", name, w.Code)
		}
	}
}

func TestProtect(t *testing.T) {
	t.Parallel()
	k := identitytest.New(t, identitytest.Options{})
	v := k.Verifier(t, identity.VerifierOptions{})
	if _, err := httpguard.Protect(echo, v, httpguard.Metadata{Resource: "http://example.com/mcp"}, httpguard.ProtectOptions{}); !errors.Is(err, httpguard.ErrBadResource) {
		t.Errorf("plain http resource: %v", err)
	}
	h, err := httpguard.Protect(echo, v, httpguard.Metadata{Resource: "https://MCP.example.com:443/mcp/"}, httpguard.ProtectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	meta := `Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"`
	cases := []struct {
		name, path, token string
		status            int
		challenge         string
	}{
		{"metadata", "/.well-known/oauth-protected-resource/mcp", "", 200, ""},
		{"root metadata", "/.well-known/oauth-protected-resource", "", 200, ""},
		{"other well-known", "/.well-known/oauth-protected-resource/other", "", 401, meta},
		{"no token", "/mcp", "", 401, meta},
		{"wrong audience", "/mcp", k.Mint(t, identity.Claims{Subject: "s"}), 401, `Bearer error="invalid_token", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"`},
		{"bound", "/mcp", k.Mint(t, identity.Claims{Subject: "s", Audience: []string{k.Audience(), "https://mcp.example.com/mcp"}}), 200, ""},
	}
	for _, c := range cases {
		r := httptest.NewRequest(http.MethodGet, c.path, nil)
		if c.token != "" {
			r.Header.Set("Authorization", "Bearer "+c.token)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != c.status || w.Header().Get("WWW-Authenticate") != c.challenge {
			t.Errorf("%s: %d %q, want %d %q", c.name, w.Code, w.Header().Get("WWW-Authenticate"), c.status, c.challenge)
		}
	}
}
