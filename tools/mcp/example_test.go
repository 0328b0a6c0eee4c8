package mcp_test

import (
	"context"
	"fmt"

	"github.com/go-jose/go-jose/v4"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
	"github.com/modelguard/modelguard/tools/httpguard"
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

	// Over HTTP: metadata, bearer check, challenges, session binding and list
	// filtering in one handler; http.ListenAndServe(addr, handler).
	handler, err := guardmcp.NewHTTPHandler(server, reg, verifier, httpguard.Metadata{
		Resource:             "https://mcp.example.com/mcp",
		AuthorizationServers: []string{"https://id.example.com"},
	}, guardmcp.HTTPOptions{})
	if err != nil {
		panic(err)
	}
	_ = handler

	// In process: the identity is the token given to Connect.
	for _, agent := range []string{"support-bot", "coding-assistant"} {
		token, _ := issuer.Mint(identity.Claims{Subject: "model:" + agent, Audience: []string{"mcp-tools"}, Agent: agent})
		st, ct := sdk.NewInMemoryTransports()
		ss, _ := server.Connect(identity.WithToken(context.Background(), token), st, nil)
		cs, _ := sdk.NewClient(&sdk.Implementation{Name: agent, Version: "1"}, nil).Connect(context.Background(), ct, nil)
		list, _ := cs.ListTools(context.Background(), nil)
		res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "tickets.get", Arguments: map[string]any{"id": "T-1"}})
		if err != nil {
			fmt.Printf("%s sees %d tool(s); tickets.get: %v\n", agent, len(list.Tools), err)
		} else {
			fmt.Printf("%s sees %d tool(s); tickets.get: %s\n", agent, len(list.Tools), res.Content[0].(*sdk.TextContent).Text)
		}
		cs.Close()
		ss.Close()
	}
	// Output:
	// support-bot sees 1 tool(s); tickets.get: {"id":"T-1","subject":"printer on fire"}
	// coding-assistant sees 0 tool(s); tickets.get: calling "tools/call": unknown tool "tickets.get"
}
