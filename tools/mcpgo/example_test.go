package mcpgo_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/go-jose/go-jose/v4"
	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
	"github.com/modelguard/modelguard/tools/httpguard"
	"github.com/modelguard/modelguard/tools/mcpgo"
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

	s := server.NewMCPServer("support", "1")
	_ = mcpgo.AddTools(s, reg)

	// Over HTTP: metadata, bearer check, challenges, session binding, list
	// filtering and the audit of refused calls in one handler (it installs
	// Middleware, Filter and RecordRefused on s); http.ListenAndServe(addr, h).
	var h http.Handler
	h, err := mcpgo.NewHTTPHandler(s, reg, verifier, httpguard.Metadata{
		Resource:             "https://mcp.example.com/mcp",
		AuthorizationServers: []string{"https://id.example.com"},
	}, mcpgo.HTTPOptions{})
	if err != nil {
		panic(err)
	}
	_ = h

	// In process: each call's context carries the identity.
	for _, agent := range []string{"support-bot", "coding-assistant"} {
		token, _ := issuer.Mint(identity.Claims{Subject: "model:" + agent, Audience: []string{"mcp-tools"}, Agent: agent})
		ctx := identity.WithToken(context.Background(), token)
		c, _ := client.NewInProcessClient(s)
		_ = c.Start(ctx)
		init := mcp.InitializeRequest{}
		init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
		_, _ = c.Initialize(ctx, init)
		list, _ := c.ListTools(ctx, mcp.ListToolsRequest{})
		fmt.Printf("%s sees %d tool(s)\n", agent, len(list.Tools))
		c.Close()
	}
	// Output:
	// support-bot sees 1 tool(s)
	// coding-assistant sees 0 tool(s)
}
