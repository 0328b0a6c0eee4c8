package policy_test

import (
	"context"
	"testing"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
)

func TestMayAllow(t *testing.T) {
	t.Parallel()
	s := mustSet(t, `
rules:
  - {id: fin-pay, effect: permit, tools: [payments.initiate], when: 'identity.agent == "finance-bot" && args.amount_cents <= 50000'}
  - {id: no-staging, effect: forbid, tools: [payments.initiate], when: 'identity.env == "staging"'}
  - {id: big-forbid, effect: forbid, tools: [payments.initiate], when: 'args.amount_cents > 1000000'}
  - {id: shadow-permit, effect: permit, mode: shadow, tools: [payments.initiate]}
`)
	p := mustCompile[paymentArgs](t, s, "payments.initiate")
	for _, tt := range []struct {
		name string
		id   *identity.Claims
		want bool
	}{
		{"permit depends on args", &identity.Claims{Agent: "finance-bot", Env: "prod"}, true},
		{"permit false for identity", &identity.Claims{Agent: "support-bot", Env: "prod"}, false},
		{"forbid holds for identity", &identity.Claims{Agent: "finance-bot", Env: "staging"}, false},
		{"nil identity", nil, false},
	} {
		if got := p.MayAllow(context.Background(), tt.id, policy.Request{}); got != tt.want {
			t.Errorf("%s: MayAllow = %v, want %v", tt.name, got, tt.want)
		}
	}
}
