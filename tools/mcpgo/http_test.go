package mcpgo_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/tools"
	"github.com/modelguard/modelguard/tools/httpguard"
	"github.com/modelguard/modelguard/tools/mcpgo"
)

// protected serves the world's tools with NewHTTPHandler on 127.0.0.1 and
// returns the resource (the MCP endpoint) and tokens of both identities bound
// to it.
func protected(t *testing.T, w *world) (resource, support, coder string) {
	t.Helper()
	return protectedWith(t, w, mcpgo.HTTPOptions{})
}

func protectedWith(t *testing.T, w *world, opts mcpgo.HTTPOptions) (resource, support, coder string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	resource = "http://" + ln.Addr().String() + "/mcp"
	s := server.NewMCPServer("guarded", "1", server.WithToolCapabilities(false))
	if err := mcpgo.AddTools(s, w.reg); err != nil {
		t.Fatal(err)
	}
	h, err := mcpgo.NewHTTPHandler(s, w.reg, w.enf.Verifier(), httpguard.Metadata{
		Resource: resource, AuthorizationServers: []string{w.kit.Issuer()}, ScopesSupported: []string{"tickets:read"},
	}, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: h}}
	srv.Start()
	t.Cleanup(srv.Close)
	aud := []string{w.kit.Audience(), resource}
	support = w.kit.Mint(t, identity.Claims{Subject: "model:support-1", Agent: "support-bot", Audience: aud})
	coder = w.kit.Mint(t, identity.Claims{Subject: "model:coder-7", Agent: "coding-assistant", Audience: aud})
	return resource, support, coder
}

// post sends one JSON-RPC message and returns the status, the session header
// and the body.
func post(t *testing.T, url, token, sessionID, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if sessionID != "" {
		req.Header.Set(httpguard.SessionHeader, sessionID)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(b)
}

const initialize = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"agent","version":"1"}}}`

func TestHTTPHandlerMetadataAndChallenges(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	resource, _, _ := protected(t, w)
	meta := strings.Replace(resource, "/mcp", "/.well-known/oauth-protected-resource/mcp", 1)
	res, err := http.Get(meta)
	if err != nil {
		t.Fatal(err)
	}
	var m httpguard.Metadata
	err = json.NewDecoder(res.Body).Decode(&m)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK || m.Resource != resource || m.AuthorizationServers[0] != w.kit.Issuer() {
		t.Errorf("metadata: %d %+v %v", res.StatusCode, m, err)
	}
	other := w.kit.Mint(t, identity.Claims{Subject: "model:support-1", Agent: "support-bot"})
	for name, c := range map[string]struct{ token, want string }{
		"no token":       {"", `Bearer scope="tickets:read", resource_metadata="` + meta + `"`},
		"garbage":        {"x.y.z", `Bearer error="invalid_token", scope="tickets:read", resource_metadata="` + meta + `"`},
		"other resource": {other, `Bearer error="invalid_token", scope="tickets:read", resource_metadata="` + meta + `"`},
	} {
		res, body := post(t, resource, c.token, "", initialize)
		if res.StatusCode != http.StatusUnauthorized || res.Header.Get("WWW-Authenticate") != c.want || body != "Unauthorized\n" {
			t.Errorf("%s: %d %q %q, want 401 %q", name, res.StatusCode, res.Header.Get("WWW-Authenticate"), body, c.want)
		}
	}
}

func TestHTTPHandlerCalls(t *testing.T) {
	t.Parallel()
	for _, version := range []string{mcp.LATEST_PROTOCOL_VERSION, mcp.LATEST_LEGACY_PROTOCOL_VERSION} {
		t.Run(version, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			resource, support, coder := protected(t, w)
			dial := func(token string) session {
				c, err := client.NewStreamableHttpClient(resource, transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + token}))
				if err != nil {
					t.Fatal(err)
				}
				return start(t, c, t.Context(), version)
			}
			s := dial(support)
			list, err := s.c.ListTools(s.ctx, mcp.ListToolsRequest{})
			if err != nil || len(list.Tools) != 2 || list.CacheScope == mcp.CacheScopePublic {
				t.Errorf("support agent's list: %+v, %v", list, err)
			}
			if got := dial(coder).toolNames(t); got != "repo.read" {
				t.Errorf("coding assistant sees %q", got)
			}
			if text, isErr, err := s.call("tickets.get", map[string]any{"id": "T-1"}); err != nil || isErr || text != `{"id":"T-1","subject":"printer on fire"}` {
				t.Errorf("allowed call: %q %v %v", text, isErr, err)
			}
			for _, tool := range []string{"repo.read", "shell.exec"} {
				if _, _, err := s.call(tool, map[string]any{"path": "src/a.go"}); err == nil || !strings.Contains(err.Error(), "not found") {
					t.Errorf("%s: %v, want a -32602 protocol error", tool, err)
				}
			}
			text, isErr, err := s.call("attachments.export", map[string]any{"id": "VIP-1"})
			if err != nil || !isErr || text != "modelguard: call to attachments.export denied (forbidden): attachments of VIP tickets stay inside" {
				t.Errorf("policy denial: %q %v %v", text, isErr, err)
			}
			codes := map[string]int{}
			for _, e := range w.log.Events() {
				if e.Phase == audit.PhaseDecision {
					codes[e.Code]++
					if e.Identity.Subject != "model:support-1" {
						t.Errorf("decision on %s recorded for %q", e.Tool, e.Identity.Subject)
					}
				}
			}
			if codes[string(tools.CodeUnknownTool)] != 2 || codes[string(tools.CodeForbidden)] != 1 || codes[""] != 1 {
				t.Errorf("decisions by code: %v", codes)
			}
		})
	}
}

func TestHTTPHandlerSessionBinding(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	resource, support, coder := protected(t, w)
	res, _ := post(t, resource, support, "", initialize)
	id := res.Header.Get(httpguard.SessionHeader)
	if res.StatusCode != http.StatusOK || id == "" {
		t.Fatalf("initialize: %d, session %q", res.StatusCode, id)
	}
	call := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"repo.read","arguments":{"path":"src/a.go"}}}`
	if res, body := post(t, resource, coder, id, call); res.StatusCode != http.StatusForbidden || strings.Contains(body, "support") {
		t.Errorf("coder on the support agent's session: %d %q", res.StatusCode, body)
	}
	if res, _ := post(t, resource, coder, "no-such-session", call); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown session: %d", res.StatusCode)
	}
	if res, _ := post(t, resource, support, id, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); res.StatusCode/100 != 2 {
		t.Errorf("owner on its session: %d", res.StatusCode)
	}
	var refused []audit.Event
	for _, e := range w.log.Events() {
		if e.Code == string(tools.CodeSessionMismatch) {
			refused = append(refused, e)
		}
	}
	if len(refused) != 1 || refused[0].Identity.Subject != "model:coder-7" || refused[0].SessionID != id {
		t.Errorf("refusals recorded: %+v", refused)
	}
}

func TestHTTPHandlerStepUp(t *testing.T) {
	t.Parallel()
	w := newWorldPolicy(t, testPolicy+stepUpRule)
	resource, _, coder := protected(t, w)
	aud := []string{w.kit.Audience(), resource}
	scoped := w.kit.Mint(t, identity.Claims{Subject: "model:coder-7", Agent: "coding-assistant", Audience: aud, Scopes: []string{"tickets:read", "tickets:audit"}})
	meta := strings.Replace(resource, "/mcp", "/.well-known/oauth-protected-resource/mcp", 1)
	call := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"tickets.get","arguments":{"id":"T-1"}}}`
	for _, token := range []string{coder, scoped} {
		res, _ := post(t, resource, token, "", initialize)
		id := res.Header.Get(httpguard.SessionHeader)
		post(t, resource, token, id, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
		res, body := post(t, resource, token, id, call)
		if token == coder {
			want := `Bearer error="insufficient_scope", scope="tickets:read tickets:audit", resource_metadata="` + meta + `"`
			if res.StatusCode != http.StatusForbidden || res.Header.Get("WWW-Authenticate") != want || body != "Forbidden\n" {
				t.Errorf("without the scopes: %d %q %q, want 403 %q", res.StatusCode, res.Header.Get("WWW-Authenticate"), body, want)
			}
			continue
		}
		if res.StatusCode != http.StatusOK || !strings.Contains(body, `printer on fire`) {
			t.Errorf("with the scopes: %d %q", res.StatusCode, body)
		}
	}
	var codes []string
	for _, e := range w.log.Events() {
		if e.Phase == audit.PhaseDecision {
			codes = append(codes, e.Code)
		}
	}
	if strings.Join(codes, ",") != string(tools.CodeInsufficientScope)+"," {
		t.Errorf("decisions: %q", codes)
	}
}

// rpc returns the JSON-RPC message of an answer, sent as JSON or as one
// server-sent event.
func rpc(t *testing.T, body string) map[string]any {
	t.Helper()
	if i := strings.Index(body, "data: "); i >= 0 {
		body = strings.TrimSpace(strings.SplitN(body[i+len("data: "):], "\n", 2)[0])
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("answer %q: %v", body, err)
	}
	return m
}

func TestHTTPHandlerApproval(t *testing.T) {
	t.Parallel()
	w := newWorldPolicy(t, testPolicy+approvalRule)
	resource, _, coder := protectedWith(t, w, mcpgo.HTTPOptions{ApprovalURL: "https://approvals.example/approvals/{id}"})
	ctx := t.Context()
	withURL := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"elicitation":{"url":{}}},"clientInfo":{"name":"agent","version":"1"}}}`
	export := func(id string) string {
		return `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"attachments.export","arguments":{"id":"` + id + `"}}}`
	}
	res, _ := post(t, resource, coder, "", withURL)
	sess := res.Header.Get(httpguard.SessionHeader)
	post(t, resource, coder, sess, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	_, body := post(t, resource, coder, sess, export("T-1"))
	pending, _ := w.queue.List(ctx, tools.StatusPending)
	if len(pending) != 1 {
		t.Fatalf("pending %+v", pending)
	}
	id := pending[0].ID
	got, _ := json.Marshal(rpc(t, body)["error"])
	want := `{"code":-32042,"data":{"elicitations":[{"elicitationId":"` + id + `","message":"Approve the call to attachments.export (request ` + id +
		`), then it will be retried.","mode":"url","url":"https://approvals.example/approvals/` + id + `"}]},"message":"URL elicitation required: 1 elicitation(s) needed"}`
	if string(got) != want {
		t.Fatalf("a client with URL elicitation: %s, want %s", got, want)
	}
	if _, err := tools.ApproveRequest(ctx, w.queue, w.approver, id, tools.Answer{Approver: "alice", Audience: []string{"modelguard"}}); err != nil {
		t.Fatal(err)
	}
	if _, body := post(t, resource, coder, sess, export("T-1")); !strings.Contains(body, `attachment of T-1`) || strings.Contains(body, `"isError":true`) {
		t.Errorf("after approval: %s", body)
	}

	res, _ = post(t, resource, coder, "", initialize) // no URL elicitation
	sess = res.Header.Get(httpguard.SessionHeader)
	post(t, resource, coder, sess, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	_, body = post(t, resource, coder, sess, export("T-2"))
	pending, _ = w.queue.List(ctx, tools.StatusPending)
	if len(pending) != 1 {
		t.Fatalf("pending %+v", pending)
	}
	id = pending[0].ID
	result, _ := rpc(t, body)["result"].(map[string]any)
	text := "modelguard: call to attachments.export denied (approval_required): this call needs human approval; request " + id +
		" is pending; an approver can approve it at https://approvals.example/approvals/" + id + "; make the same call again once it is approved"
	if result["isError"] != true || !strings.Contains(body, strconv.Quote(text)[1:len(strconv.Quote(text))-1]) {
		t.Errorf("a client without URL elicitation: %s, want the text %q", body, text)
	}
}
