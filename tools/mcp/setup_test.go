package mcp_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/identity/identitytest"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
	guardmcp "github.com/modelguard/modelguard/tools/mcp"
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

// world is a guarded tool set with a kit that mints tokens for two identities.
type world struct {
	kit      *identitytest.Kit
	log      *audit.Memory
	enf      *tools.Enforcer
	reg      *tools.Registry
	queue    *tools.MemoryApprovals
	approver *identity.Issuer
	support  string // token of the support agent
	coder    string // token of the coding assistant
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
	w.enf, err = tools.NewEnforcer(k.Verifier(t, identity.VerifierOptions{}), set, w.log, tools.Options{Now: k.Now, Approvals: approvals})
	if err != nil {
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

// server returns an MCP server with the registry's tools, behind the middleware.
func (w *world) server(t *testing.T) *sdk.Server {
	t.Helper()
	s := w.bareServer(t)
	s.AddReceivingMiddleware(guardmcp.Middleware(w.reg))
	return s
}

// bareServer returns an MCP server with the registry's tools.
func (w *world) bareServer(t *testing.T) *sdk.Server {
	t.Helper()
	s := sdk.NewServer(&sdk.Implementation{Name: "guarded", Version: "1"}, nil)
	if err := guardmcp.AddTools(s, w.reg, &sdk.Tool{Name: "tickets.get", Description: "Read one ticket."}); err != nil {
		t.Fatal(err)
	}
	return s
}

// bearer is an http.RoundTripper that presents a token.
type bearer struct {
	token string
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if b.token != "" {
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func toolNames(t *testing.T, cs *sdk.ClientSession) string {
	t.Helper()
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	return strings.Join(names, ",")
}

// call calls a tool and returns its text and whether it is an error result.
func call(t *testing.T, cs *sdk.ClientSession, name string, args any) (string, bool) {
	t.Helper()
	text, isErr, err := callRaw(cs, name, args)
	if err != nil {
		t.Fatalf("CallTool(%s): %v", name, err)
	}
	return text, isErr
}

// callAny is call, but a JSON-RPC error -32602 comes back as its message and
// true: the answer to a tool the caller may not see.
func callAny(t *testing.T, cs *sdk.ClientSession, name string, args any) (string, bool) {
	t.Helper()
	text, isErr, err := callRaw(cs, name, args)
	var werr *jsonrpc.Error
	switch {
	case errors.As(err, &werr) && werr.Code == jsonrpc.CodeInvalidParams:
		return werr.Message, true
	case err != nil:
		t.Fatalf("CallTool(%s): %v", name, err)
	}
	return text, isErr
}

func callRaw(cs *sdk.ClientSession, name string, args any) (string, bool, error) {
	res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		return "", false, err
	}
	var texts []string
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			texts = append(texts, tc.Text)
		}
	}
	return strings.Join(texts, "\n"), res.IsError, nil
}
