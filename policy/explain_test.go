package policy_test

import (
	"context"
	"slices"
	"testing"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
)

func TestExplain(t *testing.T) {
	t.Parallel()
	s := mustSet(t, `
rules:
  - id: pay
    effect: permit
    tools: [payments.initiate]
    when: identity.agent == "finance-bot" && args.amount_cents <= 50000 && (identity.env == "prod" || identity.env == "staging")
  - id: block-payee
    effect: forbid
    tools: [payments.*]
    when: args.payee == "mallory"
  - id: broken
    effect: forbid
    mode: shadow
    tools: [payments.*]
    when: 1 / (args.amount_cents - args.amount_cents) > 0
`)
	p := mustCompile[paymentArgs](t, s, "payments.initiate")
	ex, err := p.Explain(context.Background(), policy.Input{
		Identity: &identity.Claims{Agent: "finance-bot", Env: "dev"},
		Args:     &paymentArgs{AmountCents: 90000, Payee: "bob"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if ex.Decision.Allowed || len(ex.Rules) != 3 {
		t.Fatalf("explanation = %+v", ex)
	}
	pay := ex.Rules[0]
	want := []string{`args.amount_cents <= 50000`, `identity.env == "prod"`, `identity.env == "staging"`}
	if pay.Rule != "pay" || pay.Matched || !slices.Equal(pay.False, want) {
		t.Errorf("pay trace = %+v, want false clauses %q", pay, want)
	}
	if b := ex.Rules[1]; b.Matched || !slices.Equal(b.False, []string{`args.payee == "mallory"`}) {
		t.Errorf("block-payee trace = %+v", b)
	}
	if b := ex.Rules[2]; !b.Matched || b.Error == "" || b.Mode != policy.Shadow {
		t.Errorf("broken trace = %+v", b)
	}
}
