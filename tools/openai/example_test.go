package openai_test

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/go-jose/go-jose/v4"
	"github.com/openai/openai-go/v3"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
	guardopenai "github.com/modelguard/modelguard/tools/openai"
)

func ExampleDispatcher_ToolMessages() {
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
	dispatcher, _ := guardopenai.New(reg, guardopenai.Options{})

	token, _ := issuer.Mint(identity.Claims{Subject: "model:support-1", Audience: []string{"support-tools"}, Agent: "support-bot"})
	ctx := identity.WithToken(context.Background(), token)
	for _, t := range dispatcher.Tools(ctx) {
		fmt.Println("offered:", t.GetFunction().Name)
	}

	// What client.Chat.Completions.New returned.
	var completion openai.ChatCompletion
	_ = json.Unmarshal([]byte(`{"id": "chatcmpl-1", "choices": [{"message": {"role": "assistant", "tool_calls": [
	  {"id": "call_1", "type": "function", "function": {"name": "tickets_get", "arguments": "{\"id\":\"T-1\"}"}},
	  {"id": "call_2", "type": "function", "function": {"name": "attachments_export", "arguments": "{\"id\":\"T-1\"}"}}]}}]}`), &completion)

	msgs, err := dispatcher.ToolMessages(ctx, &completion)
	for _, m := range msgs {
		fmt.Println(m.OfTool.ToolCallID, m.OfTool.Content.OfString.Value)
	}
	fmt.Println("error:", err)
	// Output:
	// offered: tickets_get
	// call_1 {"id":"T-1","subject":"printer on fire"}
	// call_2 modelguard: call to attachments.export denied (no_permit)
	// error: modelguard: call to attachments.export denied (no_permit)
}
