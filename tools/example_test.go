package tools_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
)

func Example() {
	// An identity service mints short-lived tokens; the guard verifies them.
	now := func() time.Time { return time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC) }
	key, _ := identity.GenerateKey(jose.EdDSA, "key-1")
	issuer, _ := identity.NewIssuer("https://id.example.com", key, identity.IssuerOptions{Now: now})
	keys, _ := identity.NewKeySet(issuer.PublicKey())
	verifier, _ := identity.NewVerifier("https://id.example.com", "support-tools", keys, identity.VerifierOptions{Now: now})

	rules, _ := policy.Parse("support.yaml", []byte(`
rules:
  - id: tickets-read
    effect: permit
    tools: ["tickets.get"]
    when: identity.agent == "support-bot" && "tickets:read" in identity.scopes
  - id: no-attachment-export
    effect: forbid
    tools: ["attachments.export"]
    message: "'attachment export is blocked for ' + identity.sub"
`))
	set, _ := policy.NewSet(rules, policy.Options{})
	log := &audit.Memory{}
	enf, _ := tools.NewEnforcer(verifier, set, log, tools.Options{Now: now})

	type ticketID struct {
		ID string `json:"id"`
	}
	getTicket, _ := tools.Wrap(enf, tools.Tool{Name: "tickets.get"},
		func(ctx context.Context, in ticketID) (string, error) {
			return "ticket " + in.ID + ": printer on fire", nil
		})
	exportAttachment, _ := tools.Wrap(enf, tools.Tool{Name: "attachments.export"},
		func(ctx context.Context, in ticketID) (string, error) { return "all the attachments", nil })

	token, _ := issuer.Mint(identity.Claims{Subject: "model:support-1", Audience: []string{"support-tools"},
		Agent: "support-bot", Scope: "tickets:read"})
	ctx := identity.WithToken(context.Background(), token)

	out, err := getTicket(ctx, ticketID{ID: "T-42"})
	fmt.Println(out, err)
	_, err = exportAttachment(ctx, ticketID{ID: "T-42"})
	fmt.Println(err, errors.Is(err, tools.ErrForbidden))
	for _, e := range log.Events() {
		fmt.Println(strings.TrimSpace(fmt.Sprint(e.Seq, " ", e.Phase, " ", e.Tool, " ", e.Decision, " ", e.Rules, " ", e.Outcome)))
	}
	// Output:
	// ticket T-42: printer on fire <nil>
	// modelguard: call to attachments.export denied (forbidden): attachment export is blocked for model:support-1 true
	// 1 decision tickets.get allow [tickets-read]
	// 2 outcome tickets.get allow [tickets-read] ok
	// 3 decision attachments.export deny [no-attachment-export] denied
}
