package mcp_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/auth"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	guardmcp "github.com/modelguard/modelguard/tools/mcp"
)

// transport connects a client presenting token to a server.
type transport struct {
	name    string
	connect func(t *testing.T, w *world, s *sdk.Server, token string) *sdk.ClientSession
}

var transports = []transport{
	{"streamable-http", connectHTTP},
	{"in-memory", connectInMemory},
}

// httpServer serves s over streamable HTTP on loopback, behind the SDK's bearer
// token middleware with modelguard's verifier.
func httpServer(t *testing.T, w *world, s *sdk.Server) *httptest.Server {
	t.Helper()
	h := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s }, nil)
	srv := httptest.NewServer(auth.RequireBearerToken(guardmcp.TokenVerifier(w.enf.Verifier(), guardmcp.VerifierOptions{}), nil)(h))
	t.Cleanup(srv.Close)
	return srv
}

func connectHTTP(t *testing.T, w *world, s *sdk.Server, token string) *sdk.ClientSession {
	t.Helper()
	srv := httpServer(t, w, s)
	c := sdk.NewClient(&sdk.Implementation{Name: "agent", Version: "1"}, nil)
	cs, err := c.Connect(context.Background(), &sdk.StreamableClientTransport{
		Endpoint: srv.URL, HTTPClient: &http.Client{Transport: bearer{token}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func connectInMemory(t *testing.T, _ *world, s *sdk.Server, token string) *sdk.ClientSession {
	t.Helper()
	st, ct := sdk.NewInMemoryTransports()
	ctx := context.Background()
	if token != "" {
		ctx = identity.WithToken(ctx, token)
	}
	ss, err := s.Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ss.Close() })
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "agent", Version: "1"}, nil).Connect(context.Background(), ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func TestToolsListPerIdentity(t *testing.T) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			s := w.server(t)
			support, coder := tr.connect(t, w, s, w.support), tr.connect(t, w, s, w.coder)
			if got := toolNames(t, support); got != "attachments.export,tickets.get" {
				t.Errorf("support agent sees %q", got)
			}
			if got := toolNames(t, coder); got != "repo.read" {
				t.Errorf("coding assistant sees %q", got)
			}
			if w.log.Len() != 0 {
				t.Errorf("listing tools recorded %d events", w.log.Len())
			}
		})
	}
}

func TestCalls(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, who, tool string
		args            any
		want            string
		isError         bool
	}{
		{"allowed", "support", "tickets.get", map[string]any{"id": "T-1"}, `{"id":"T-1","subject":"printer on fire"}`, false},
		{"forbidden with message", "support", "attachments.export", map[string]any{"id": "VIP-9"},
			"modelguard: call to attachments.export denied (forbidden): attachments of VIP tickets stay inside", true},
		{"hidden tool", "support", "repo.read", map[string]any{"path": "src/a.go"}, `unknown tool "repo.read"`, true},
		{"unknown field", "support", "tickets.get", map[string]any{"id": "T-1", "admin": true}, "modelguard: call to tickets.get denied (bad_arguments)", true},
		{"unguarded tool", "coder", "shell.exec", map[string]any{"cmd": "id"}, `unknown tool "shell.exec"`, true},
		{"panic", "coder", "repo.read", map[string]any{"path": "src/panic.go"}, "modelguard: the tool failed", true},
	}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			s := w.server(t)
			sessions := map[string]*sdk.ClientSession{"support": tr.connect(t, w, s, w.support), "coder": tr.connect(t, w, s, w.coder)}
			for _, c := range cases {
				text, isErr := callAny(t, sessions[c.who], c.tool, c.args)
				if isErr != c.isError || !strings.HasPrefix(text, c.want) {
					t.Errorf("%s: got %q (error %v), want %q (error %v)", c.name, text, isErr, c.want, c.isError)
				}
				for _, leak := range []string{"no-vip-export", "support-tickets", "coder-repo", "secret internal state", "identity."} {
					if strings.Contains(text, leak) {
						t.Errorf("%s: the model is told %q", c.name, leak)
					}
				}
			}
			checkLog(t, w.log, tr.name == "streamable-http")
		})
	}
}

// checkLog checks that every call was recorded with the caller's identity and,
// over HTTP, the MCP session.
func checkLog(t *testing.T, log *audit.Memory, wantSession bool) {
	t.Helper()
	decisions := 0
	for _, e := range log.Events() {
		if e.Phase != audit.PhaseDecision {
			continue
		}
		decisions++
		if e.Identity.Subject == "" {
			t.Errorf("decision %d on %s has no subject", e.Seq, e.Tool)
		}
		if wantSession && e.SessionID == "" {
			t.Errorf("decision %d on %s has no session", e.Seq, e.Tool)
		}
	}
	if decisions != 6 {
		t.Errorf("%d decisions recorded, want 6", decisions)
	}
}

func TestHTTPRefusesMissingAndInvalidTokens(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	srv := httpServer(t, w, w.server(t))
	for name, token := range map[string]string{"none": "", "expired": w.kit.Expired(t), "forged": w.kit.UnknownKey(t), "garbage": "x.y.z"} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		res, err := (&http.Client{Transport: bearer{token}}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: status %d", name, res.StatusCode)
		}
		if b := strings.TrimSpace(string(body)); b != "invalid token" && b != "no bearer token" {
			t.Errorf("%s: body %q says why", name, b)
		}
		c := sdk.NewClient(&sdk.Implementation{Name: "agent", Version: "1"}, nil)
		if _, err := c.Connect(context.Background(), &sdk.StreamableClientTransport{
			Endpoint: srv.URL, HTTPClient: &http.Client{Transport: bearer{token}}, MaxRetries: -1,
		}, nil); err == nil {
			t.Errorf("%s: client connected", name)
		}
	}
	if w.log.Len() != 0 {
		t.Errorf("refused requests reached the guards: %d events", w.log.Len())
	}
}

func TestInMemoryWithoutToken(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	cs := connectInMemory(t, w, w.server(t), "")
	if got := toolNames(t, cs); got != "" {
		t.Errorf("anonymous client sees %q", got)
	}
	text, isErr := call(t, cs, "tickets.get", map[string]any{"id": "T-1"})
	if !isErr || text != "modelguard: call to tickets.get denied (unauthenticated): no identity token" {
		t.Errorf("got %q (error %v)", text, isErr)
	}
}
