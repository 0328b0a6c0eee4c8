package mcp_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/auth"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/tools"
	"github.com/modelguard/modelguard/tools/httpguard"
	guardmcp "github.com/modelguard/modelguard/tools/mcp"
)

// TestTypedHandlers serves guards through the SDK's typed AddTool: one built
// from a plain function, one from a handler written for the SDK.
func TestTypedHandlers(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	get, err := tools.NewGuard(w.enf, tools.Tool{Name: "tickets.get"}, func(ctx context.Context, in ticketID) (ticket, error) {
		c, _ := identity.FromContext(ctx)
		return ticket{ID: in.ID, Subject: "for " + c.Subject}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var sawRequest atomic.Bool
	export, err := guardmcp.NewGuard(w.enf, tools.Tool{Name: "attachments.export"},
		func(ctx context.Context, req *sdk.CallToolRequest, in ticketID) (*sdk.CallToolResult, string, error) {
			sawRequest.Store(req.Params.Name == "attachments.export" && req.Session != nil)
			if in.ID == "T-missing" {
				return &sdk.CallToolResult{IsError: true, Content: []sdk.Content{&sdk.TextContent{Text: "no such ticket"}}}, "", nil
			}
			// Content is dropped: only the output passes the guard.
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "raw, unguarded"}}}, "attachment of " + in.ID, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := tools.NewRegistry(w.enf, get, export)
	if err != nil {
		t.Fatal(err)
	}
	s := sdk.NewServer(&sdk.Implementation{Name: "typed", Version: "1"}, nil)
	guardmcp.AddTool(s, &sdk.Tool{Description: "Read one ticket."}, get)
	guardmcp.AddTool(s, nil, export)
	s.AddReceivingMiddleware(guardmcp.Middleware(reg))
	cs := connectInMemory(t, w, s, w.support)

	cases := []struct {
		tool, id, want string
		isError        bool
	}{
		{"tickets.get", "T-1", `{"id":"T-1","subject":"for model:support-1"}`, false},
		{"attachments.export", "T-2", `"attachment of T-2"`, false},
		{"attachments.export", "T-missing", "no such ticket", true},
		{"attachments.export", "VIP-1", "modelguard: call to attachments.export denied (forbidden): attachments of VIP tickets stay inside", true},
	}
	for _, c := range cases {
		text, isErr := call(t, cs, c.tool, map[string]any{"id": c.id})
		if text != c.want || isErr != c.isError {
			t.Errorf("%s(%s): got %q (error %v), want %q (error %v)", c.tool, c.id, text, isErr, c.want, c.isError)
		}
	}
	if !sawRequest.Load() {
		t.Error("the SDK handler did not get the MCP request")
	}
}

func TestAddToolNameMismatchPanics(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	g, err := tools.NewGuard(w.enf, tools.Tool{Name: "tickets.get"}, func(context.Context, ticketID) (string, error) { return "", nil })
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Error("AddTool under another name did not panic")
		}
	}()
	guardmcp.AddTool(sdk.NewServer(&sdk.Implementation{Name: "x", Version: "1"}, nil), &sdk.Tool{Name: "tickets.read"}, g)
}

func TestAddToolsRejects(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	s := sdk.NewServer(&sdk.Implementation{Name: "x", Version: "1"}, nil)
	if err := guardmcp.AddTools(s, w.reg, &sdk.Tool{Name: "not.there"}); err == nil {
		t.Error("a definition for a tool the registry lacks was accepted")
	}
	scalar, _ := tools.NewGuard(w.enf, tools.Tool{Name: "scalar"}, func(context.Context, string) (string, error) { return "", nil })
	reg, _ := tools.NewRegistry(w.enf, scalar)
	if err := guardmcp.AddTools(s, reg); err == nil {
		t.Error("a tool whose input is not an object was accepted")
	}
}

// TestIdentityPerHTTPRequest checks that over HTTP each request speaks for the
// token it carries, not for the one that opened the session, when the identity
// comes from an Authorization header rather than from TokenVerifier.
func TestIdentityPerHTTPRequest(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	h := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return w.server(t) }, nil)
	srv := httptest.NewServer(httpguard.Middleware(w.enf.Verifier(), httpguard.Options{})(h))
	t.Cleanup(srv.Close)
	rt := &switching{}
	rt.token.Store(w.support)
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "agent", Version: "1"}, nil).Connect(context.Background(),
		&sdk.StreamableClientTransport{Endpoint: srv.URL, HTTPClient: &http.Client{Transport: rt}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if _, isErr := call(t, cs, "tickets.get", map[string]any{"id": "T-1"}); isErr {
		t.Fatal("support agent denied")
	}
	rt.token.Store(w.coder)
	if text, isErr := callAny(t, cs, "tickets.get", map[string]any{"id": "T-1"}); !isErr {
		t.Errorf("after switching tokens, the session still speaks for the support agent: %q", text)
	}
	if _, isErr := call(t, cs, "repo.read", map[string]any{"path": "src/a.go"}); isErr {
		t.Error("coding assistant denied")
	}
}

// switching presents whichever token it holds now.
type switching struct{ token atomic.Value }

func (s *switching) RoundTrip(r *http.Request) (*http.Response, error) {
	return bearer{s.token.Load().(string)}.RoundTrip(r)
}

func TestContext(t *testing.T) {
	t.Parallel()
	stale := identity.NewContext(identity.WithToken(context.Background(), "first-request"), &identity.Claims{Subject: "a"})
	w := newWorld(t)
	ti, err := guardmcp.TokenVerifier(w.enf.Verifier(), guardmcp.VerifierOptions{})(context.Background(), w.coder, nil)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		ctx       context.Context
		extra     *sdk.RequestExtra
		wantToken string
		wantSub   string
	}{
		{"in-process keeps the connection's identity", stale, nil, "first-request", "a"},
		{"HTTP without credentials clears it", stale, &sdk.RequestExtra{Header: http.Header{}}, "", ""},
		{"HTTP header token", stale, &sdk.RequestExtra{Header: http.Header{"Authorization": {"Bearer hdr"}}}, "hdr", ""},
		{"verified token", stale, &sdk.RequestExtra{TokenInfo: ti}, w.coder, "model:coder-7"},
		{"foreign token info", stale, &sdk.RequestExtra{TokenInfo: &auth.TokenInfo{UserID: "u"}}, "", ""},
	}
	for _, c := range cases {
		ctx := guardmcp.Context(c.ctx, nil, c.extra)
		tok, _ := identity.TokenFromContext(ctx)
		var sub string
		if cl, ok := identity.FromContext(ctx); ok {
			sub = cl.Subject
		}
		if tok != c.wantToken || sub != c.wantSub {
			t.Errorf("%s: token %q subject %q, want %q %q", c.name, tok, sub, c.wantToken, c.wantSub)
		}
	}
}

func TestTokenVerifierRefusal(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	var got error
	v := guardmcp.TokenVerifier(w.enf.Verifier(), guardmcp.VerifierOptions{OnError: func(_ *http.Request, err error) { got = err }})
	ti, err := v(context.Background(), w.kit.Expired(t), nil)
	if ti != nil || err != auth.ErrInvalidToken {
		t.Errorf("got %v, %v; want only auth.ErrInvalidToken", ti, err)
	}
	if !errors.Is(got, identity.ErrExpired) {
		t.Errorf("OnError got %v", got)
	}
}
