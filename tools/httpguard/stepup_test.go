package httpguard_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/identity/identitytest"
	"github.com/modelguard/modelguard/tools"
	"github.com/modelguard/modelguard/tools/httpguard"
)

func TestStepUp(t *testing.T) {
	t.Parallel()
	k := identitytest.New(t, identitytest.Options{})
	const resource = "https://mcp.example.com/mcp"
	token := k.Mint(t, identity.Claims{Subject: "s", Audience: []string{k.Audience(), resource}})
	denied := &tools.DeniedError{Code: tools.CodeInsufficientScope, Scopes: []string{"a", "b:c"}}
	handlers := map[string]http.HandlerFunc{
		"step-up before the answer": func(w http.ResponseWriter, r *http.Request) {
			httpguard.StepUpFromContext(r.Context()).AddDenial(denied)
			w.Write([]byte("event: message\n\n"))
			w.(http.Flusher).Flush()
		},
		"streamed before the step-up": func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("event: progress\n\n"))
			w.(http.Flusher).Flush()
			httpguard.StepUpFromContext(r.Context()).AddDenial(denied)
			w.Write([]byte("event: message\n\n"))
		},
		"no step-up": func(w http.ResponseWriter, r *http.Request) {
			httpguard.StepUpFromContext(r.Context()).AddDenial(context.Canceled)
			w.Header().Set("X-Kept", "1")
			w.WriteHeader(http.StatusAccepted)
			w.Write([]byte("answer"))
		},
		"plain handler": func(w http.ResponseWriter, r *http.Request) {
			if !httpguard.WriteStepUp(w, r, denied) {
				t.Error("WriteStepUp did not see the denial")
			}
		},
	}
	want := map[string]struct {
		body   string
		status int
		call   bool
	}{
		"step-up before the answer":   {"", 403, true},
		"streamed before the step-up": {"event: progress\n\nevent: message\n\n", 200, true},
		"no step-up":                  {"answer", 202, true},
		"plain handler":               {"", 403, false},
	}
	challenge := `Bearer error="insufficient_scope", scope="a b:c", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"`
	for name, h := range handlers {
		p, err := httpguard.Protect(h, k.Verifier(t, identity.VerifierOptions{}), httpguard.Metadata{Resource: resource}, httpguard.ProtectOptions{StepUp: true})
		if err != nil {
			t.Fatal(err)
		}
		body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}`
		if !want[name].call {
			body = `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
		}
		r := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		p.ServeHTTP(w, r)
		wt := want[name]
		if w.Code != wt.status {
			t.Errorf("%s: status %d, want %d", name, w.Code, wt.status)
		}
		if wt.status == 403 {
			if got := w.Header().Get("WWW-Authenticate"); got != challenge {
				t.Errorf("%s: challenge %q", name, got)
			}
			continue
		}
		if w.Body.String() != wt.body {
			t.Errorf("%s: body %q, want %q", name, w.Body.String(), wt.body)
		}
	}
}

// FuzzStepUpBody checks that any request body reaches the handler intact,
// whether or not it is taken for a tools/call.
func FuzzStepUpBody(f *testing.F) {
	for _, s := range []string{`{"jsonrpc":"2.0","id":1,"method":"tools/call"}`, `[{"method":"tools/call"}]`, `{"method":1}`, "", "\x00{"} {
		f.Add(s)
	}
	k := identitytest.New(f, identitytest.Options{})
	const resource = "https://mcp.example.com/mcp"
	token := k.Mint(f, identity.Claims{Subject: "s", Audience: []string{k.Audience(), resource}})
	var got string
	p, err := httpguard.Protect(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := new(strings.Builder)
		_, _ = io.Copy(b, r.Body)
		got = b.String()
	}), k.Verifier(f, identity.VerifierOptions{}), httpguard.Metadata{Resource: resource}, httpguard.ProtectOptions{StepUp: true})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+token)
		p.ServeHTTP(httptest.NewRecorder(), r)
		if got != body {
			t.Fatalf("handler read %q, want %q", got, body)
		}
	})
}

func TestStepUpZero(t *testing.T) {
	t.Parallel()
	var nilStep *httpguard.StepUp
	nilStep.Add("a")
	if nilStep.Scopes() != nil || nilStep.AddDenial(&tools.DeniedError{Code: tools.CodeInsufficientScope, Scopes: []string{"a"}}) != true {
		t.Error("nil StepUp")
	}
	var zero httpguard.StepUp
	if zero.AddDenial(nil) || zero.AddDenial(&tools.DeniedError{Code: tools.CodeInsufficientScope}) || len(zero.Scopes()) != 0 {
		t.Error("zero StepUp took a non-step-up")
	}
	//lint:ignore SA1012 a nil ctx must not panic
	if httpguard.StepUpFromContext(nil) != nil || httpguard.StepUpFromContext(httpguard.WithStepUp(nil, &zero)) != &zero { //nolint:staticcheck
		t.Error("StepUp context")
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if httpguard.WriteStepUp(httptest.NewRecorder(), r, nil) || httpguard.ApprovalText(nil, "") == "" {
		t.Error("nil errors")
	}
}
