package mcp_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/tools"
	"github.com/modelguard/modelguard/tools/httpguard"
	guardmcp "github.com/modelguard/modelguard/tools/mcp"
)

// protected serves the world's tools with NewHTTPHandler on 127.0.0.1 and
// returns the resource (the MCP endpoint) and tokens of both identities bound
// to it.
func protected(t *testing.T, w *world) (resource, support, coder string) {
	t.Helper()
	return protectedWith(t, w, guardmcp.HTTPOptions{})
}

func protectedWith(t *testing.T, w *world, opts guardmcp.HTTPOptions) (resource, support, coder string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	resource = "http://" + ln.Addr().String() + "/mcp"
	h, err := guardmcp.NewHTTPHandler(w.bareServer(t), w.reg, w.enf.Verifier(), httpguard.Metadata{
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

func TestHTTPHandlerMetadata(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	resource, _, _ := protected(t, w)
	base := strings.TrimSuffix(resource, "/mcp")
	for _, path := range []string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"} {
		res, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		err = json.NewDecoder(res.Body).Decode(&m)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d, %v", path, res.StatusCode, err)
		}
		got, _ := json.Marshal(m)
		want := `{"authorization_servers":["` + w.kit.Issuer() + `"],"bearer_methods_supported":["header"],"resource":"` + resource + `","scopes_supported":["tickets:read"]}`
		if string(got) != want {
			t.Errorf("%s: metadata %s, want %s", path, got, want)
		}
	}
}

func TestHTTPHandlerChallenges(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	resource, _, _ := protected(t, w)
	meta := strings.Replace(resource, "/mcp", "/.well-known/oauth-protected-resource/mcp", 1)
	other := w.kit.Mint(t, identity.Claims{Subject: "model:support-1", Agent: "support-bot"}) // not for this resource
	cases := []struct{ name, token, want string }{
		{"no token", "", `Bearer scope="tickets:read", resource_metadata="` + meta + `"`},
		{"garbage", "x.y.z", `Bearer error="invalid_token", scope="tickets:read", resource_metadata="` + meta + `"`},
		{"expired", w.kit.Expired(t), `Bearer error="invalid_token", scope="tickets:read", resource_metadata="` + meta + `"`},
		{"other resource", other, `Bearer error="invalid_token", scope="tickets:read", resource_metadata="` + meta + `"`},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(http.MethodPost, resource, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		res, err := (&http.Client{Transport: bearer{c.token}}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized || res.Header.Get("WWW-Authenticate") != c.want {
			t.Errorf("%s: %d %q, want 401 %q", c.name, res.StatusCode, res.Header.Get("WWW-Authenticate"), c.want)
		}
		if string(body) != "Unauthorized\n" {
			t.Errorf("%s: body %q", c.name, body)
		}
	}
	if w.log.Len() != 0 {
		t.Errorf("refused requests reached the guards: %d events", w.log.Len())
	}
}

// dialHTTP opens an MCP session with the go-sdk client over streamable HTTP.
func dialHTTP(t *testing.T, endpoint string, rt http.RoundTripper) *sdk.ClientSession {
	t.Helper()
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "agent", Version: "1"}, nil).Connect(context.Background(),
		&sdk.StreamableClientTransport{Endpoint: endpoint, HTTPClient: &http.Client{Transport: rt}, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func TestHTTPHandlerCalls(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	resource, support, coder := protected(t, w)
	cs := dialHTTP(t, resource, bearer{support})
	list, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Tools) != 2 || list.CacheScope != "private" {
		t.Errorf("support agent's list: %d tools, cacheScope %q", len(list.Tools), list.CacheScope)
	}
	if got := toolNames(t, dialHTTP(t, resource, bearer{coder})); got != "repo.read" {
		t.Errorf("coding assistant sees %q", got)
	}
	for _, c := range []struct{ tool, want string }{
		{"tickets.get", `{"id":"T-1","subject":"printer on fire"}`},
		{"repo.read", `unknown tool "repo.read"`},
		{"shell.exec", `unknown tool "shell.exec"`},
	} {
		if text, _ := callAny(t, cs, c.tool, map[string]any{"id": "T-1"}); text != c.want {
			t.Errorf("%s: %q, want %q", c.tool, text, c.want)
		}
	}
	text, isErr := call(t, cs, "attachments.export", map[string]any{"id": "VIP-1"})
	if !isErr || text != "modelguard: call to attachments.export denied (forbidden): attachments of VIP tickets stay inside" {
		t.Errorf("policy denial: %q (error %v)", text, isErr)
	}
	codes := map[string]int{}
	for _, e := range w.log.Events() {
		if e.Phase == audit.PhaseDecision {
			codes[e.Code]++
			if e.SessionID == "" || e.Identity.Subject != "model:support-1" {
				t.Errorf("decision on %s: session %q, subject %q", e.Tool, e.SessionID, e.Identity.Subject)
			}
		}
	}
	if codes[string(tools.CodeUnknownTool)] != 2 || codes[string(tools.CodeForbidden)] != 1 || codes[""] != 1 {
		t.Errorf("decisions by code: %v", codes)
	}
}

func TestHTTPHandlerSessionBinding(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	resource, support, coder := protected(t, w)
	rt := &switching{}
	rt.token.Store(support)
	cs := dialHTTP(t, resource, rt)
	if _, isErr := call(t, cs, "tickets.get", map[string]any{"id": "T-1"}); isErr {
		t.Fatal("support agent denied")
	}
	rt.token.Store(coder)
	_, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "repo.read", Arguments: map[string]any{"path": "src/a.go"}})
	if err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Errorf("coder on the support agent's session: %v", err)
	}
	var refused []audit.Event
	for _, e := range w.log.Events() {
		if e.Code == string(tools.CodeSessionMismatch) {
			refused = append(refused, e)
		}
	}
	if len(refused) == 0 {
		t.Fatal("the refusal was not recorded")
	}
	for _, e := range refused { // the call, and the client's other requests on the session
		if e.Identity.Subject != "model:coder-7" || e.SessionID != cs.ID() || !strings.Contains(strings.Join(e.Reasons, " "), `"model:support-1"`) {
			t.Errorf("refusal recorded as %+v", e)
		}
	}
}

// post sends one JSON-RPC message and returns the response and its body.
func post(t *testing.T, url, token, sessionID, body string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
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

func TestHTTPHandlerApproval(t *testing.T) {
	t.Parallel()
	w := newWorldPolicy(t, testPolicy+approvalRule)
	resource, _, coder := protectedWith(t, w, guardmcp.HTTPOptions{ApprovalURL: "https://approvals.example/approvals/{id}"})
	ctx := context.Background()
	c := sdk.NewClient(&sdk.Implementation{Name: "agent", Version: "1"}, &sdk.ClientOptions{
		Capabilities: &sdk.ClientCapabilities{Elicitation: &sdk.ElicitationCapabilities{URL: &sdk.URLElicitationCapabilities{}}}})
	cs, err := c.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: resource, HTTPClient: &http.Client{Transport: bearer{coder}}, MaxRetries: -1},
		&sdk.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	export := &sdk.CallToolParams{Name: "attachments.export", Arguments: map[string]any{"id": "T-1"}}
	_, err = cs.CallTool(ctx, export)
	var werr *jsonrpc.Error
	if !errors.As(err, &werr) || werr.Code != sdk.CodeURLElicitationRequired {
		t.Fatalf("a client with URL elicitation: %v, want -32042", err)
	}
	var data struct{ Elicitations []sdk.ElicitParams }
	if err := json.Unmarshal(werr.Data, &data); err != nil || len(data.Elicitations) != 1 {
		t.Fatalf("elicitations %s: %v", werr.Data, err)
	}
	el := data.Elicitations[0]
	pending, _ := w.queue.List(ctx, tools.StatusPending)
	if len(pending) != 1 || el.Mode != "url" || el.ElicitationID != pending[0].ID || el.URL != "https://approvals.example/approvals/"+pending[0].ID {
		t.Fatalf("elicitation %+v for pending %+v", el, pending)
	}
	if _, err := tools.ApproveRequest(ctx, w.queue, w.approver, el.ElicitationID, tools.Answer{Approver: "alice", Audience: []string{"modelguard"}}); err != nil {
		t.Fatal(err)
	}
	if text, isErr := call(t, cs, export.Name, export.Arguments); isErr || text != `"attachment of T-1"` {
		t.Errorf("after approval: %q (error %v)", text, isErr)
	}

	plain := dialHTTP(t, resource, bearer{coder}) // no URL elicitation
	text, isErr := call(t, plain, "attachments.export", map[string]any{"id": "T-2"})
	pending, _ = w.queue.List(ctx, tools.StatusPending)
	if len(pending) != 1 {
		t.Fatalf("pending %+v", pending)
	}
	id := pending[0].ID
	want := "modelguard: call to attachments.export denied (approval_required): this call needs human approval; request " + id +
		" is pending; an approver can approve it at https://approvals.example/approvals/" + id + "; make the same call again once it is approved"
	if !isErr || text != want {
		t.Errorf("a client without URL elicitation: %q (error %v), want %q", text, isErr, want)
	}
	if strings.Contains(text, "coder-export") {
		t.Error("the model is told a rule id")
	}
}
