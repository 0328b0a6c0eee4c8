package mcpgo_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/identity/identitytest"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
	"github.com/modelguard/modelguard/tools/httpguard"
	"github.com/modelguard/modelguard/tools/mcpgo"
)

const testPolicy = `
rules:
  - id: support-tickets
    effect: permit
    tools: ["tickets.get", "attachments.export"]
    when: identity.agent == "support-bot"
  - id: no-vip-export
    effect: forbid
    tools: ["attachments.export"]
    when: args.id.startsWith("VIP-")
    message: "'attachments of VIP tickets stay inside'"
  - id: coder-repo
    effect: permit
    tools: ["repo.read"]
    when: identity.agent == "coding-assistant" && args.path.startsWith("src/")
`

type ticketID struct {
	ID string `json:"id"`
}

type ticket struct {
	ID      string `json:"id"`
	Subject string `json:"subject"`
}

type repoPath struct {
	Path string `json:"path"`
}

type world struct {
	kit            *identitytest.Kit
	log            *audit.Memory
	enf            *tools.Enforcer
	reg            *tools.Registry
	queue          *tools.MemoryApprovals
	approver       *identity.Issuer
	support, coder string // tokens
}

func newWorld(t *testing.T) *world { return newWorldPolicy(t, testPolicy) }

// approvalRule lets the coding assistant export attachments with approval.
const approvalRule = `
  - id: coder-export
    effect: permit
    tools: ["attachments.export"]
    when: identity.agent == "coding-assistant"
    require: [approval]
`

// stepUpRule lets the coding assistant read tickets with two more scopes.
const stepUpRule = `
  - id: coder-tickets
    effect: permit
    tools: ["tickets.get"]
    scopes: [tickets:read, tickets:audit]
    when: identity.agent == "coding-assistant"
`

func newWorldPolicy(t *testing.T, src string) *world {
	t.Helper()
	k := identitytest.New(t, identitytest.Options{})
	rules, err := policy.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	set, err := policy.NewSet(rules, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{kit: k, log: &audit.Memory{}, queue: tools.NewMemoryApprovals(k.Now)}
	akey, _ := identity.GenerateKey(jose.ES256, "approver-key")
	var err2 error
	if w.approver, err2 = tools.NewGrantIssuer("https://approvals.example", akey, identity.IssuerOptions{Now: k.Now}); err2 != nil {
		t.Fatal(err2)
	}
	akeys, _ := identity.NewKeySet(w.approver.PublicKey())
	gv, err2 := tools.NewGrantVerifier("https://approvals.example", "modelguard", akeys, identity.VerifierOptions{Now: k.Now})
	if err2 != nil {
		t.Fatal(err2)
	}
	approvals := tools.ApprovalOptions{Verifier: gv, Queue: w.queue}
	if w.enf, err = tools.NewEnforcer(k.Verifier(t, identity.VerifierOptions{}), set, w.log, tools.Options{Now: k.Now, Approvals: approvals}); err != nil {
		t.Fatal(err)
	}
	get, err1 := tools.NewGuard(w.enf, tools.Tool{Name: "tickets.get"}, func(ctx context.Context, in ticketID) (ticket, error) {
		return ticket{ID: in.ID, Subject: "printer on fire"}, nil
	})
	export, err2 := tools.NewGuard(w.enf, tools.Tool{Name: "attachments.export"}, func(ctx context.Context, in ticketID) (string, error) {
		return "attachment of " + in.ID, nil
	})
	read, err3 := tools.NewGuard(w.enf, tools.Tool{Name: "repo.read"}, func(ctx context.Context, in repoPath) (string, error) {
		if in.Path == "src/panic.go" {
			panic("secret internal state")
		}
		return "package main // " + in.Path, nil
	})
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	if w.reg, err = tools.NewRegistry(w.enf, get, export, read); err != nil {
		t.Fatal(err)
	}
	w.support = k.Mint(t, identity.Claims{Subject: "model:support-1", Agent: "support-bot"})
	w.coder = k.Mint(t, identity.Claims{Subject: "model:coder-7", Agent: "coding-assistant"})
	return w
}

// server returns an MCP server with the registry's tools and an unguarded
// shell.exec, behind the middleware and, if filtered, the tool filter.
func (w *world) server(t *testing.T, filtered bool) *server.MCPServer {
	t.Helper()
	opts := []server.ServerOption{server.WithToolCapabilities(false), server.WithToolHandlerMiddleware(mcpgo.Middleware(w.reg))}
	if filtered {
		opts = append(opts, server.WithToolFilter(mcpgo.Filter(w.reg)))
	}
	s := server.NewMCPServer("guarded", "1", opts...)
	if err := mcpgo.AddTools(s, w.reg, mcp.Tool{Name: "tickets.get", Description: "Read one ticket."}); err != nil {
		t.Fatal(err)
	}
	s.AddTool(mcp.NewTool("shell.exec", mcp.WithString("cmd")), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		t.Error("the unguarded tool ran")
		return mcp.NewToolResultText("uid=0(root)"), nil
	})
	return s
}

// session is a connected client and the context its calls are made in.
type session struct {
	c   *client.Client
	ctx context.Context
}

type connector struct {
	name     string
	connect  func(t *testing.T, w *world, s *server.MCPServer, token string) session
	sessions bool // the protocol has sessions, which the audit log must show
}

// The 2026-07-28 protocol is stateless; the one before it has sessions.
var connectors = []connector{
	{"streamable-http", connectHTTP(mcp.LATEST_PROTOCOL_VERSION), false},
	{"streamable-http-" + mcp.LATEST_LEGACY_PROTOCOL_VERSION, connectHTTP(mcp.LATEST_LEGACY_PROTOCOL_VERSION), true},
	{"in-process", connectInProcess, false},
}

func connectHTTP(version string) func(t *testing.T, w *world, s *server.MCPServer, token string) session {
	return func(t *testing.T, w *world, s *server.MCPServer, token string) session {
		t.Helper()
		return httpSession(t, w, s, token, version)
	}
}

func httpSession(t *testing.T, w *world, s *server.MCPServer, token, version string) session {
	t.Helper()
	srv := httptest.NewServer(httpguard.Middleware(w.enf.Verifier(), httpguard.Options{})(server.NewStreamableHTTPServer(s)))
	t.Cleanup(srv.Close)
	c, err := client.NewStreamableHttpClient(srv.URL, transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + token}))
	if err != nil {
		t.Fatal(err)
	}
	return start(t, c, context.Background(), version)
}

func connectInProcess(t *testing.T, _ *world, s *server.MCPServer, token string) session {
	t.Helper()
	c, err := client.NewInProcessClient(s)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if token != "" {
		ctx = identity.WithToken(ctx, token)
	}
	return start(t, c, ctx, mcp.LATEST_PROTOCOL_VERSION)
}

func start(t *testing.T, c *client.Client, ctx context.Context, version string) session {
	t.Helper()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = version
	init.Params.ClientInfo = mcp.Implementation{Name: "agent", Version: "1"}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	return session{c, ctx}
}

func (s session) toolNames(t *testing.T) string {
	t.Helper()
	res, err := s.c.ListTools(s.ctx, mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	return strings.Join(names, ",")
}

// call returns the result's text and whether it is an error result, or the
// protocol error.
func (s session) call(name string, args map[string]any) (string, bool, error) {
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = name, args
	res, err := s.c.CallTool(s.ctx, req)
	if err != nil {
		return "", false, err
	}
	var texts []string
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			texts = append(texts, tc.Text)
		}
	}
	return strings.Join(texts, "\n"), res.IsError, nil
}
