package mcpgo_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/tools/httpguard"
	"github.com/modelguard/modelguard/tools/mcpgo"
)

func TestToolsListPerIdentity(t *testing.T) {
	t.Parallel()
	for _, cn := range connectors {
		t.Run(cn.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			s := w.server(t, true)
			if got := cn.connect(t, w, s, w.support).toolNames(t); got != "attachments.export,tickets.get" {
				t.Errorf("support agent sees %q", got)
			}
			if got := cn.connect(t, w, s, w.coder).toolNames(t); got != "repo.read" {
				t.Errorf("coding assistant sees %q", got)
			}
		})
	}
}

func TestCalls(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, who, tool string
		args            map[string]any
		want            string // text of the result
		isError         bool
		filtered        string // protocol error with the filter on, if any
	}{
		{"allowed", "support", "tickets.get", map[string]any{"id": "T-1"}, `{"id":"T-1","subject":"printer on fire"}`, false, ""},
		{"forbidden with message", "support", "attachments.export", map[string]any{"id": "VIP-9"},
			"modelguard: call to attachments.export denied (forbidden): attachments of VIP tickets stay inside", true, ""},
		{"hidden tool", "support", "repo.read", map[string]any{"path": "src/a.go"}, "modelguard: call to repo.read denied (no_permit)", true, "not found"},
		{"unknown field", "support", "tickets.get", map[string]any{"id": "T-1", "admin": true}, "modelguard: call to tickets.get denied (bad_arguments)", true, ""},
		{"unguarded tool", "coder", "shell.exec", map[string]any{"cmd": "id"}, "modelguard: call to shell.exec denied (unknown_tool): no such tool", true, "not found"},
		{"panic", "coder", "repo.read", map[string]any{"path": "src/panic.go"}, "modelguard: the tool failed", true, ""},
	}
	for _, cn := range connectors {
		for _, filtered := range []bool{false, true} {
			t.Run(cn.name+map[bool]string{true: "/filtered", false: "/unfiltered"}[filtered], func(t *testing.T) {
				t.Parallel()
				w := newWorld(t)
				s := w.server(t, filtered)
				sessions := map[string]session{"support": cn.connect(t, w, s, w.support), "coder": cn.connect(t, w, s, w.coder)}
				recorded := 0
				for _, c := range cases {
					text, isErr, err := sessions[c.who].call(c.tool, c.args)
					if filtered && c.filtered != "" {
						if err == nil || !strings.Contains(err.Error(), c.filtered) {
							t.Errorf("%s: got %q, %v; want a protocol error", c.name, text, err)
						}
						continue
					}
					recorded++
					if err != nil || isErr != c.isError || !strings.HasPrefix(text, c.want) {
						t.Errorf("%s: got %q (error %v, %v), want %q (error %v)", c.name, text, isErr, err, c.want, c.isError)
					}
					for _, leak := range []string{"no-vip-export", "support-tickets", "coder-repo", "secret internal state"} {
						if strings.Contains(text, leak) {
							t.Errorf("%s: the model is told %q", c.name, leak)
						}
					}
				}
				checkLog(t, w.log, recorded, cn.sessions)
			})
		}
	}
}

func checkLog(t *testing.T, log *audit.Memory, want int, wantSession bool) {
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
	if decisions != want {
		t.Errorf("%d decisions recorded, want %d", decisions, want)
	}
}

func TestHTTPRefusesMissingAndInvalidTokens(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	srv := httptest.NewServer(httpguard.Middleware(w.enf.Verifier(), httpguard.Options{})(server.NewStreamableHTTPServer(w.server(t, true))))
	defer srv.Close()
	for name, token := range map[string]string{"none": "", "expired": w.kit.Expired(t), "forged": w.kit.UnknownKey(t)} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized || strings.TrimSpace(string(body)) != "Unauthorized" {
			t.Errorf("%s: %d %q", name, res.StatusCode, body)
		}
	}
	if w.log.Len() != 0 {
		t.Errorf("refused requests reached the guards: %d events", w.log.Len())
	}
}

func TestInProcessWithoutToken(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	s := connectInProcess(t, w, w.server(t, false), "")
	if got := s.toolNames(t); got != "attachments.export,repo.read,shell.exec,tickets.get" {
		t.Errorf("unfiltered list: %q", got)
	}
	text, isErr, err := s.call("tickets.get", map[string]any{"id": "T-1"})
	if err != nil || !isErr || text != "modelguard: call to tickets.get denied (unauthenticated): no identity token" {
		t.Errorf("got %q (error %v, %v)", text, isErr, err)
	}
	if got := connectInProcess(t, w, w.server(t, true), "").toolNames(t); got != "" {
		t.Errorf("anonymous client sees %q", got)
	}
}

func TestHandlerOutsideRegistry(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	h := w.reg.Handlers()[0] // attachments.export
	s := server.NewMCPServer("plain", "1")
	s.AddTool(mcp.NewTool(h.Tool().Name, mcp.WithString("id")), mcpgo.Handler(h))
	sess := connectInProcess(t, w, s, w.support)
	if text, isErr, err := sess.call(h.Tool().Name, map[string]any{"id": "T-3"}); err != nil || isErr || text != `"attachment of T-3"` {
		t.Errorf("got %q (error %v, %v)", text, isErr, err)
	}
}
