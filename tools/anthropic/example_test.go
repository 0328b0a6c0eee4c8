package anthropic_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
	guardanthropic "github.com/modelguard/modelguard/tools/anthropic"
)

func ExampleDispatcher_ToolResults() {
	key, _ := identity.GenerateKey(jose.EdDSA, "key-1")
	issuer, _ := identity.NewIssuer("https://id.example.com", key, identity.IssuerOptions{})
	keys, _ := identity.NewKeySet(issuer.PublicKey())
	verifier, _ := identity.NewVerifier("https://id.example.com", "support-tools", keys, identity.VerifierOptions{})
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
	exportAttachment, _ := tools.NewGuard(enf, tools.Tool{Name: "attachments.export"},
		func(ctx context.Context, in ticketID) (string, error) { return "%PDF", nil })
	reg, _ := tools.NewRegistry(enf, getTicket, exportAttachment)
	dispatcher, _ := guardanthropic.New(reg, guardanthropic.Options{})

	token, _ := issuer.Mint(identity.Claims{Subject: "model:support-1", Audience: []string{"support-tools"}, Agent: "support-bot"})
	ctx := identity.WithToken(context.Background(), token)
	for _, t := range dispatcher.Tools(ctx) {
		fmt.Println("offered:", t.OfTool.Name)
	}

	// What client.Messages.New returned.
	var msg anthropic.Message
	_ = json.Unmarshal([]byte(`{"id": "msg_1", "role": "assistant", "content": [
	  {"type": "tool_use", "id": "toolu_1", "name": "tickets_get", "input": {"id": "T-1"}},
	  {"type": "tool_use", "id": "toolu_2", "name": "attachments_export", "input": {"id": "T-1"}}]}`), &msg)

	results, err := dispatcher.ToolResults(ctx, &msg)
	for _, b := range results {
		r := b.OfToolResult
		fmt.Println(r.ToolUseID, r.IsError.Value, r.Content[0].OfText.Text)
	}
	fmt.Println("error:", err)
	// Output:
	// offered: tickets_get
	// toolu_1 false {"id":"T-1","subject":"printer on fire"}
	// toolu_2 true modelguard: call to attachments.export denied (no_permit)
	// error: modelguard: call to attachments.export denied (no_permit)
}
