package mcpconformance_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/mark3labs/mcp-go/server"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/identity/identitytest"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
	"github.com/modelguard/modelguard/tools/httpguard"
	guardmcp "github.com/modelguard/modelguard/tools/mcp"
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
  - id: coder-tickets
    effect: permit
    tools: ["tickets.get"]
    scopes: [tickets:read, tickets:audit]
    when: identity.agent == "coding-assistant"
  - id: coder-export
    effect: permit
    tools: ["attachments.export"]
    when: identity.agent == "coding-assistant" && !args.id.startsWith("VIP-")
    require: [approval]
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

// target is one adapter serving the guarded tools on 127.0.0.1.
type target struct {
	Name        string `json:"name"`
	Resource    string `json:"resource"`     // the MCP endpoint
	Metadata    string `json:"metadata"`     // its RFC 9728 metadata URL
	RootMeta    string `json:"rootMetadata"` // the root well-known URL
	Issuer      string `json:"issuer"`
	ApprovalURL string `json:"approvalURL"` // template
	Approve     string `json:"approve"`     // test-only: POST ?id= approves a request
	Tokens      tokens `json:"tokens"`

	log   *audit.Memory
	queue *tools.MemoryApprovals
}

type tokens struct {
	Support       string `json:"support"`       // support-bot
	Coder         string `json:"coder"`         // coding-assistant, no scopes
	ScopedCoder   string `json:"scopedCoder"`   // coding-assistant with tickets:read tickets:audit
	OtherResource string `json:"otherResource"` // valid, but for another resource
	Expired       string `json:"expired"`
}

const approvalTemplate = "https://approvals.example/approvals/{id}"

// serve starts both adapters, each with its own enforcer, audit log and
// approval queue.
func serve(t *testing.T) []*target {
	t.Helper()
	return []*target{
		start(t, "go-sdk", func(reg *tools.Registry, v tools.Verifier, m httpguard.Metadata) (http.Handler, error) {
			s := sdk.NewServer(&sdk.Implementation{Name: "guarded", Version: "1"}, nil)
			if err := guardmcp.AddTools(s, reg); err != nil {
				return nil, err
			}
			return guardmcp.NewHTTPHandler(s, reg, v, m, guardmcp.HTTPOptions{ApprovalURL: approvalTemplate})
		}),
		start(t, "mcp-go", func(reg *tools.Registry, v tools.Verifier, m httpguard.Metadata) (http.Handler, error) {
			s := server.NewMCPServer("guarded", "1", server.WithToolCapabilities(false))
			if err := mcpgo.AddTools(s, reg); err != nil {
				return nil, err
			}
			return mcpgo.NewHTTPHandler(s, reg, v, m, mcpgo.HTTPOptions{ApprovalURL: approvalTemplate})
		}),
	}
}

type build func(reg *tools.Registry, v tools.Verifier, m httpguard.Metadata) (http.Handler, error)

func start(t *testing.T, name string, b build) *target {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	resource := "http://" + ln.Addr().String() + "/mcp"
	k := identitytest.New(t, identitytest.Options{Audience: resource})
	tg := &target{Name: name, Resource: resource, Issuer: k.Issuer(), ApprovalURL: approvalTemplate, log: &audit.Memory{}}
	tg.Metadata, _ = httpguard.MetadataURL(resource)
	tg.RootMeta = "http://" + ln.Addr().String() + httpguard.WellKnownPath
	reg, approver := registry(t, k, tg)
	h, err := b(reg, k.Verifier(t, identity.VerifierOptions{}), httpguard.Metadata{
		Resource: resource, AuthorizationServers: []string{k.Issuer()}, ScopesSupported: []string{"tickets:read", "tickets:audit"},
		ResourceDocumentation: "https://modelguard.example/docs/mcp",
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: h}}
	srv.Start()
	t.Cleanup(srv.Close)
	approve := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := tools.ApproveRequest(r.Context(), tg.queue, approver, r.URL.Query().Get("id"),
			tools.Answer{Approver: "alice", Audience: []string{"modelguard"}})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
	}))
	t.Cleanup(approve.Close)
	tg.Approve = approve.URL
	tg.Tokens = tokens{
		Support:       k.Mint(t, identity.Claims{Subject: "model:support-1", Agent: "support-bot"}),
		Coder:         k.Mint(t, identity.Claims{Subject: "model:coder-7", Agent: "coding-assistant"}),
		ScopedCoder:   k.Mint(t, identity.Claims{Subject: "model:coder-7", Agent: "coding-assistant", Scopes: []string{"tickets:read", "tickets:audit"}}),
		OtherResource: k.Mint(t, identity.Claims{Subject: "model:support-1", Agent: "support-bot", Audience: []string{"https://other.example/mcp"}}),
		Expired:       k.Expired(t),
	}
	return tg
}

// registry builds the guarded tools of tg: enforcer, approvals and all.
func registry(t *testing.T, k *identitytest.Kit, tg *target) (*tools.Registry, *identity.Issuer) {
	t.Helper()
	rules, err := policy.Parse("conformance.yaml", []byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	set, err := policy.NewSet(rules, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	akey, _ := identity.GenerateKey(jose.ES256, "approver-key")
	approver, err := tools.NewGrantIssuer("https://approvals.example", akey, identity.IssuerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	akeys, _ := identity.NewKeySet(approver.PublicKey())
	gv, err := tools.NewGrantVerifier("https://approvals.example", "modelguard", akeys, identity.VerifierOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tg.queue = tools.NewMemoryApprovals(nil)
	enf, err := tools.NewEnforcer(k.Verifier(t, identity.VerifierOptions{}), set, tg.log,
		tools.Options{Approvals: tools.ApprovalOptions{Verifier: gv, Queue: tg.queue}})
	if err != nil {
		t.Fatal(err)
	}
	get, err1 := tools.NewGuard(enf, tools.Tool{Name: "tickets.get"}, func(ctx context.Context, in ticketID) (ticket, error) {
		return ticket{ID: in.ID, Subject: "printer on fire"}, nil
	})
	export, err2 := tools.NewGuard(enf, tools.Tool{Name: "attachments.export"}, func(ctx context.Context, in ticketID) (string, error) {
		return "attachment of " + in.ID, nil
	})
	read, err3 := tools.NewGuard(enf, tools.Tool{Name: "repo.read"}, func(ctx context.Context, in repoPath) (string, error) {
		return "package main // " + in.Path, nil
	})
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	reg, err := tools.NewRegistry(enf, get, export, read)
	if err != nil {
		t.Fatal(err)
	}
	return reg, approver
}

// codes counts the decision events of tg's audit log by reason code ("" for
// an allow).
func (tg *target) codes() map[string]int {
	n := map[string]int{}
	for _, e := range tg.log.Events() {
		if e.Phase == audit.PhaseDecision {
			n[e.Code]++
		}
	}
	return n
}
