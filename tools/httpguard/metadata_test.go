package httpguard_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/modelguard/modelguard/tools/httpguard"
)

func TestMetadataURL(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"https://tools.example", "https://tools.example/.well-known/oauth-protected-resource"},
		{"https://tools.example/", "https://tools.example/.well-known/oauth-protected-resource"},
		{"https://tools.example/mcp", "https://tools.example/.well-known/oauth-protected-resource/mcp"},
		{"https://tools.example:8443/a/b", "https://tools.example:8443/.well-known/oauth-protected-resource/a/b"},
		{"http://127.0.0.1:9/mcp", "http://127.0.0.1:9/.well-known/oauth-protected-resource/mcp"},
	} {
		got, err := httpguard.MetadataURL(c.in)
		if err != nil || got != c.want {
			t.Errorf("MetadataURL(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "tools.example", "/mcp", "http://tools.example/mcp", "https://tools.example/mcp#x",
		"https://u:p@tools.example/", "ftp://tools.example/", "https:///mcp", "https://tools.example/#"} {
		if _, err := httpguard.MetadataURL(bad); !errors.Is(err, httpguard.ErrBadResource) {
			t.Errorf("MetadataURL(%q) err = %v; want ErrBadResource", bad, err)
		}
		if _, err := httpguard.MetadataHandler(httpguard.Metadata{Resource: bad}); !errors.Is(err, httpguard.ErrBadResource) {
			t.Errorf("MetadataHandler(%q) err = %v; want ErrBadResource", bad, err)
		}
	}
}

func TestMetadataHandler(t *testing.T) {
	t.Parallel()
	h, err := httpguard.MetadataHandler(httpguard.Metadata{
		Resource:             "https://tools.example/mcp",
		AuthorizationServers: []string{"https://idp.example"},
		ScopesSupported:      []string{"tools:read", "payments:write"},
	})
	if err != nil {
		t.Fatal(err)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, httpguard.WellKnownPath+"/mcp", nil))
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, content type %q", w.Code, w.Header().Get("Content-Type"))
	}
	var got map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"resource":                 "https://tools.example/mcp",
		"authorization_servers":    []any{"https://idp.example"},
		"scopes_supported":         []any{"tools:read", "payments:write"},
		"bearer_methods_supported": []any{"header"},
	}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if string(gb) != string(wb) {
		t.Errorf("metadata = %s; want %s", gb, wb)
	}
	for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(m, httpguard.WellKnownPath, nil))
		if w.Code != http.StatusMethodNotAllowed {
			t.Errorf("%s: status %d; want 405", m, w.Code)
		}
	}
}

func TestChallenge(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ realm, errc, scope, rm, want string }{
		{"", "", "", "", "Bearer"},
		{"", "invalid_token", "", "https://h/.well-known/oauth-protected-resource/mcp",
			`Bearer error="invalid_token", resource_metadata="https://h/.well-known/oauth-protected-resource/mcp"`},
		{"tools", "", "a b", "https://h/m", `Bearer realm="tools", scope="a b", resource_metadata="https://h/m"`},
		{`q"\`, "", "é\r\n", "", `Bearer realm="q\"\\", scope="é"`},
	} {
		if got := httpguard.Challenge(c.realm, c.errc, c.scope, c.rm); got != c.want {
			t.Errorf("Challenge = %s; want %s", got, c.want)
		}
	}
}

func TestInsufficientScope(t *testing.T) {
	t.Parallel()
	o := httpguard.Options{ResourceMetadata: "https://h/.well-known/oauth-protected-resource"}
	w := httptest.NewRecorder()
	o.InsufficientScope(w, []string{"tools:read", "payments:write"})
	want := `Bearer error="insufficient_scope", scope="tools:read payments:write", resource_metadata="https://h/.well-known/oauth-protected-resource"`
	if w.Code != http.StatusForbidden || w.Header().Get("WWW-Authenticate") != want {
		t.Errorf("status %d, challenge %s; want 403, %s", w.Code, w.Header().Get("WWW-Authenticate"), want)
	}
}

func TestCanonicalResource(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, want string }{
		{"HTTPS://Tools.Example/mcp/", "https://tools.example/mcp"},
		{"https://tools.example:443/mcp", "https://tools.example/mcp"},
		{"https://tools.example:8443", "https://tools.example:8443"},
		{"http://[::1]:80/MCP", "http://[::1]/MCP"},
	} {
		got, err := httpguard.CanonicalResource(c.in)
		if err != nil || got != c.want {
			t.Errorf("CanonicalResource(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
		// Idempotent: the canonical form is its own canonical form.
		if again, err := httpguard.CanonicalResource(got); err != nil || again != got {
			t.Errorf("CanonicalResource(%q) = %q, %v; not idempotent", got, again, err)
		}
	}
	if _, err := httpguard.CanonicalResource("https://tools.example/#f"); !errors.Is(err, httpguard.ErrBadResource) {
		t.Errorf("fragment: err = %v", err)
	}
}
