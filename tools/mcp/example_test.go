package mcp_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/go-jose/go-jose/v4"
	"github.com/modelcontextprotocol/go-sdk/auth"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
	guardmcp "github.com/modelguard/modelguard/tools/mcp"
)

func Example() {
	key, _ := identity.GenerateKey(jose.EdDSA, "key-1")
	issuer, _ := identity.NewIssuer("https://id.example.com", key, identity.IssuerOptions{})
	keys, _ := identity.NewKeySet(issuer.PublicKey())
	verifier, _ := identity.NewVerifier("https://id.example.com", "mcp-tools", keys, identity.VerifierOptions{})
	rules, _ := policy.Parse("policy.yaml", []byte(`
rules:
  - id: support-read
    effect: permit
    tools: ["tickets.get"]
    when: identity.agent == "support-bot"
`))
	set, _ := policy.NewSet(rules, policy.Options{})
	enf, _ := tools.NewEnforcer(verifier, set, &audit.Memory{}, tools.Options{})

	getTicket, _ := tools.NewGuard(enf, tools.Tool{Name: "tickets.get"},
		func(ctx context.Context, in ticketID) (ticket, error) {
			return ticket{ID: in.ID, Subject: "printer on fire"}, nil
		})
	reg, _ := tools.NewRegistry(enf, getTicket)

	server := sdk.NewServer(&sdk.Implementation{Name: "support", Version: "1"}, nil)
	_ = guardmcp.AddTools(server, reg) // or guardmcp.AddTool(server, nil, getTicket)
	server.AddReceivingMiddleware(guardmcp.Middleware(reg))

	// Over HTTP: http.ListenAndServe(addr, protect(handler)).
	handler := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return server }, nil)
	protect := auth.RequireBearerToken(guardmcp.TokenVerifier(verifier, guardmcp.VerifierOptions{}), nil)
	_ = protect(handler)

	// In process: the identity is the token given to Connect.
	for _, agent := range []string{"support-bot", "coding-assistant"} {
		token, _ := issuer.Mint(identity.Claims{Subject: "model:" + agent, Audience: []string{"mcp-tools"}, Agent: agent})
		st, ct := sdk.NewInMemoryTransports()
		ss, _ := server.Connect(identity.WithToken(context.Background(), token), st, nil)
		cs, _ := sdk.NewClient(&sdk.Implementation{Name: agent, Version: "1"}, nil).Connect(context.Background(), ct, nil)
		list, _ := cs.ListTools(context.Background(), nil)
		res, _ := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "tickets.get", Arguments: map[string]any{"id": "T-1"}})
		fmt.Printf("%s sees %d tool(s); tickets.get: error=%v %s\n", agent, len(list.Tools), res.IsError, res.Content[0].(*sdk.TextContent).Text)
		cs.Close()
		ss.Close()
	}
	// Output:
	// support-bot sees 1 tool(s); tickets.get: error=false {"id":"T-1","subject":"printer on fire"}
	// coding-assistant sees 0 tool(s); tickets.get: error=true modelguard: call to tickets.get denied (no_permit)
}
