package tools_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
)

// exampleWorld is the setup the examples share: an issuer, an enforcer on the
// given policy recording into memory, and a token for a support bot.
type exampleWorld struct {
	enf *tools.Enforcer
	log *audit.Memory
	ctx context.Context
}

func newExampleWorld(src string) exampleWorld {
	now := func() time.Time { return time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC) }
	key, err := identity.GenerateKey(jose.EdDSA, "key-1")
	if err != nil {
		panic(err)
	}
	issuer, err := identity.NewIssuer("https://id.example.com", key, identity.IssuerOptions{Now: now})
	if err != nil {
		panic(err)
	}
	keys, err := identity.NewKeySet(issuer.PublicKey())
	if err != nil {
		panic(err)
	}
	verifier, err := identity.NewVerifier("https://id.example.com", "support-tools", keys, identity.VerifierOptions{Now: now})
	if err != nil {
		panic(err)
	}
	rules, err := policy.Parse("example.yaml", []byte(src))
	if err != nil {
		panic(err)
	}
	set, err := policy.NewSet(rules, policy.Options{})
	if err != nil {
		panic(err)
	}
	log := &audit.Memory{}
	enf, err := tools.NewEnforcer(verifier, set, log, tools.Options{Now: now})
	if err != nil {
		panic(err)
	}
	token, err := issuer.Mint(identity.Claims{Subject: "model:support-1", Audience: []string{"support-tools"},
		Agent: "support-bot", Scope: "tickets:read"})
	if err != nil {
		panic(err)
	}
	return exampleWorld{enf: enf, log: log, ctx: identity.WithToken(context.Background(), token)}
}

const examplePolicy = `
rules:
  - id: tickets-read
    effect: permit
    tools: ["tickets.get"]
    when: identity.agent == "support-bot" && !args.id.startsWith("CLOSED-")
`

type exampleTicket struct {
	ID string `json:"id"`
}

func exampleGetTicket(ctx context.Context, in exampleTicket) (string, error) {
	return "ticket " + in.ID, nil
}

// A Guard keeps the plain tool's signature: the call below is what the model's
// tool call becomes once it is guarded.
func ExampleGuard_Call() {
	w := newExampleWorld(examplePolicy)
	g, err := tools.NewGuard(w.enf, tools.Tool{Name: "tickets.get"}, exampleGetTicket)
	if err != nil {
		panic(err)
	}
	out, err := g.Call(w.ctx, exampleTicket{ID: "T-1"})
	fmt.Println(out, err)
	_, err = g.Call(w.ctx, exampleTicket{ID: "CLOSED-7"})
	fmt.Println(err)
	// Output:
	// ticket T-1 <nil>
	// modelguard: call to tickets.get denied (no_permit)
}

// A Registry dispatches a model's tool call by name with JSON arguments, as the
// adapters do; arguments are decoded strictly and unknown tools are denied.
func ExampleRegistry_Call() {
	w := newExampleWorld(examplePolicy)
	g, err := tools.NewGuard(w.enf, tools.Tool{Name: "tickets.get"}, exampleGetTicket)
	if err != nil {
		panic(err)
	}
	reg, err := tools.NewRegistry(w.enf, g)
	if err != nil {
		panic(err)
	}
	out, err := reg.Call(w.ctx, "tickets.get", json.RawMessage(`{"id":"T-2"}`))
	fmt.Println(string(out), err)
	_, err = reg.Call(w.ctx, "tickets.get", json.RawMessage(`{"ID":"T-2"}`))
	fmt.Println(errors.Is(err, tools.ErrBadArgs))
	_, err = reg.Call(w.ctx, "tickets.delete", nil)
	fmt.Println(err)
	// Output:
	// "ticket T-2" <nil>
	// true
	// modelguard: call to tickets.delete denied (unknown_tool): no such tool
}

// A DeniedError speaks on two channels: Error() is safe to show the model,
// Rules and Reasons are for the operator.
func ExampleDeniedError() {
	w := newExampleWorld(examplePolicy)
	g, err := tools.NewGuard(w.enf, tools.Tool{Name: "tickets.get"}, exampleGetTicket)
	if err != nil {
		panic(err)
	}
	_, err = g.Call(w.ctx, exampleTicket{ID: "CLOSED-7"})
	var de *tools.DeniedError
	if errors.As(err, &de) {
		fmt.Println("model sees:", de.Error())
		fmt.Println("code:", de.Code, errors.Is(err, tools.ErrForbidden))
		fmt.Println("operator sees:", de.Reasons)
	}
	// Output:
	// model sees: modelguard: call to tickets.get denied (no_permit)
	// code: no_permit true
	// operator sees: [no rule permits tickets.get: the conditions of the permit rules covering it were false (tickets-read)]
}

// WithCall ties a call to the conversation and the prompt that led to it: the
// ids travel into both audit records (and into CEL as request.*).
func ExampleWithCall() {
	w := newExampleWorld(examplePolicy)
	g, err := tools.NewGuard(w.enf, tools.Tool{Name: "tickets.get"}, exampleGetTicket)
	if err != nil {
		panic(err)
	}
	ctx := tools.WithCall(w.ctx, tools.Call{ID: "call_1", SessionID: "conv-9", PromptID: "turn-3"})
	if _, err := g.Call(ctx, exampleTicket{ID: "T-3"}); err != nil {
		panic(err)
	}
	for _, e := range w.log.Events() {
		fmt.Println(e.Phase, e.CallID, e.SessionID, e.PromptID)
	}
	// Output:
	// decision call_1 conv-9 turn-3
	// outcome call_1 conv-9 turn-3
}

// SetPolicy swaps a new policy in for every guard at once, or changes nothing
// if any guard's rules do not compile.
func ExampleEnforcer_SetPolicy() {
	w := newExampleWorld(examplePolicy)
	g, err := tools.NewGuard(w.enf, tools.Tool{Name: "tickets.get"}, exampleGetTicket)
	if err != nil {
		panic(err)
	}
	strict, _ := policy.Parse("strict.yaml", []byte("rules:\n  - {id: nothing, effect: forbid, tools: [\"*\"], message: closed for maintenance}\n"))
	set, _ := policy.NewSet(strict, policy.Options{})
	fmt.Println(w.enf.SetPolicy(context.Background(), set))
	_, err = g.Call(w.ctx, exampleTicket{ID: "T-4"})
	fmt.Println(err)
	broken, _ := policy.Parse("broken.yaml", []byte("rules:\n  - {id: typo, effect: permit, tools: [tickets.get], when: 'args.ticket_id == \"x\"'}\n"))
	set, _ = policy.NewSet(broken, policy.Options{})
	fmt.Println(w.enf.SetPolicy(context.Background(), set) != nil, w.enf.Policy().Version() == set.Version())
	// Output:
	// <nil>
	// modelguard: call to tickets.get denied (forbidden): closed for maintenance
	// true false
}
