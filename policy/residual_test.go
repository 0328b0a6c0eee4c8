package policy_test

import (
	"context"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
)

func TestResiduals(t *testing.T) {
	t.Parallel()
	s := mustSet(t, `
variables:
  - {name: fin, expression: 'identity.agent == "finance-bot"'}
rules:
  - {id: fin-pay, effect: permit, tools: [payments.initiate], when: 'variables.fin && args.amount_cents <= 50000', require: [approval]}
  - {id: no-staging, effect: forbid, tools: [payments.initiate], when: 'identity.env == "staging"'}
  - {id: open, effect: permit, tools: [payments.initiate]}
  - {id: shadow-permit, effect: permit, mode: shadow, tools: [payments.initiate]}
  - {id: other, effect: permit, tools: [invoices.get]}
`)
	p := mustCompile[paymentArgs](t, s, "payments.initiate")
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		id   *identity.Claims
		want string
	}{
		{"anyone", nil, `fin-pay:[identity]identity.agent == "finance-bot" & [args]args.amount_cents <= 50000 | no-staging:[identity]identity.env == "staging" | open:always`},
		{"finance-bot in prod", &identity.Claims{Agent: "finance-bot", Env: "prod"}, `fin-pay:[args]args.amount_cents <= 50000 | open:always`},
		{"support-bot in staging", &identity.Claims{Agent: "support-bot", Env: "staging"}, `no-staging:always | open:always`},
	} {
		rs, err := p.Residuals(ctx, tt.id)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := residualText(rs); got != tt.want {
			t.Errorf("%s: residuals\n got %s\nwant %s", tt.name, got, tt.want)
		}
	}
	rs, _ := p.Residuals(ctx, nil)
	if len(rs) == 0 || len(rs[0].Rule.Require) != 1 || rs[0].Rule.Require[0] != policy.RequireApproval {
		t.Errorf("the residual does not carry the rule's obligations: %+v", rs)
	}
	var zero *policy.Program
	if _, err := zero.Residuals(ctx, nil); err == nil {
		t.Error("nil program: no error")
	}
}

func residualText(rs []policy.Residual) string {
	var parts []string
	for _, r := range rs {
		if r.Always {
			parts = append(parts, r.Rule.ID+":always")
			continue
		}
		var cs []string
		for _, c := range r.Clauses {
			cs = append(cs, "["+strings.Join(c.Vars, ",")+"]"+c.Expr)
		}
		parts = append(parts, r.Rule.ID+":"+strings.Join(cs, " & "))
	}
	return strings.Join(parts, " | ")
}

func TestResidualsSessionUnknown(t *testing.T) {
	t.Parallel()
	s := mustSet(t, `
rules:
  - {id: cap, effect: forbid, tools: [payments.initiate], when: 'session.count("payments.*") >= 3 || "pii" in history.labels'}
  - {id: p, effect: permit, tools: [payments.initiate], when: 'identity.agent == "finance-bot"'}
`)
	p := mustCompile[paymentArgs](t, s, "payments.initiate")
	rs, err := p.Residuals(context.Background(), &identity.Claims{Agent: "finance-bot"})
	if err != nil {
		t.Fatal(err)
	}
	if got := residualText(rs); got != `cap:[history,session]session.count("payments.*") >= 3 || "pii" in history.labels | p:always` {
		t.Errorf("residuals: %s", got)
	}
}
