package peerbench

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/modelguard/modelguard/tools"
)

var (
	supportBot = Identity{Subject: "model:support-1", Agent: "support-bot", Env: "prod", Scopes: []string{"tickets:read", "kb:read"}}
	financeBot = Identity{Subject: "model:finance-1", Agent: "finance-bot", Env: "prod", Scopes: []string{"payments:write"}}
	coder      = Identity{Subject: "model:coder-1", Agent: "coding-assistant", Env: "prod", Scopes: []string{"repo:read"}}
)

// with returns id changed by f.
func with(id Identity, f func(*Identity)) Identity {
	id.Scopes = slices.Clone(id.Scopes)
	f(&id)
	return id
}

// equivalenceCases are decided by every engine. want.Rules are the rules that
// decide: so each forbid is seen to fire, not only to agree with a default deny.
var equivalenceCases = []struct {
	name string
	call Call
	want Verdict
}{
	// (a) support agent
	{"support reads ticket",
		Call{supportBot, "tickets.get", TicketArgs{ID: "T-1"}},
		Verdict{true, []string{"tickets-read"}}},
	{"support without tickets:read scope",
		Call{with(supportBot, func(id *Identity) { id.Scopes = []string{"kb:read"} }), "tickets.get", TicketArgs{ID: "T-1"}},
		Verdict{false, nil}},
	{"other agent with tickets:read scope",
		Call{with(coder, func(id *Identity) { id.Scopes = []string{"tickets:read"} }), "tickets.get", TicketArgs{ID: "T-1"}},
		Verdict{false, nil}},
	{"agent name is case sensitive",
		Call{with(supportBot, func(id *Identity) { id.Agent = "Support-Bot" }), "tickets.get", TicketArgs{ID: "T-1"}},
		Verdict{false, nil}},
	{"support exports attachment",
		Call{supportBot, "attachments.export", TicketArgs{ID: "T-1"}},
		Verdict{false, []string{"no-attachment-export"}}},
	{"anyone exports attachment",
		Call{financeBot, "attachments.export", TicketArgs{ID: "T-9"}},
		Verdict{false, []string{"no-attachment-export"}}},

	// (b) finance
	{"finance pays in prod",
		Call{financeBot, "payments.initiate", PaymentArgs{AmountCents: 12_000, Payee: "ACME"}},
		Verdict{true, []string{"payments-initiate"}}},
	{"finance pays the limit",
		Call{financeBot, "payments.initiate", PaymentArgs{AmountCents: 50_000, Payee: "ACME"}},
		Verdict{true, []string{"payments-initiate"}}},
	{"finance pays over the limit",
		Call{financeBot, "payments.initiate", PaymentArgs{AmountCents: 50_001, Payee: "ACME"}},
		Verdict{false, nil}},
	{"forbid overrides permit: finance pays in staging",
		Call{with(financeBot, func(id *Identity) { id.Env = "staging" }), "payments.initiate", PaymentArgs{AmountCents: 100, Payee: "ACME"}},
		Verdict{false, []string{"payments-prod-only"}}},
	{"finance pays over the limit in staging",
		Call{with(financeBot, func(id *Identity) { id.Env = "staging" }), "payments.initiate", PaymentArgs{AmountCents: 90_000, Payee: "ACME"}},
		Verdict{false, []string{"payments-prod-only"}}},
	{"empty env is not prod",
		Call{with(financeBot, func(id *Identity) { id.Env = "" }), "payments.initiate", PaymentArgs{AmountCents: 100, Payee: "ACME"}},
		Verdict{false, []string{"payments-prod-only"}}},
	{"other agent pays",
		Call{supportBot, "payments.initiate", PaymentArgs{AmountCents: 100, Payee: "ACME"}},
		Verdict{false, nil}},

	// (c) coding assistant
	{"coder reads src",
		Call{coder, "repo.read", RepoArgs{Path: "src/main.go"}},
		Verdict{true, []string{"repo-read-src"}}},
	{"coder reads outside src",
		Call{coder, "repo.read", RepoArgs{Path: "deploy/prod.tf"}},
		Verdict{false, nil}},
	{"src must be a prefix",
		Call{coder, "repo.read", RepoArgs{Path: "lib/src/x.go"}},
		Verdict{false, nil}},
	{"src without slash",
		Call{coder, "repo.read", RepoArgs{Path: "src"}},
		Verdict{false, nil}},
	{"other agent reads src",
		Call{supportBot, "repo.read", RepoArgs{Path: "src/main.go"}},
		Verdict{false, nil}},
	{"coder gets prod secret",
		Call{coder, "secrets.get", SecretArgs{Name: "prod/db-password"}},
		Verdict{false, []string{"no-prod-secrets"}}},
	{"default deny: no rule permits secrets",
		Call{coder, "secrets.get", SecretArgs{Name: "dev/db-password"}},
		Verdict{false, nil}},

	// default deny
	{"default deny: tool no rule covers",
		Call{supportBot, "tickets.delete", TicketArgs{ID: "T-1"}},
		Verdict{false, nil}},
}

type engines struct {
	mg    *Modelguard
	cedar *Cedar
	opa   *OPA
}

func newEngines(t testing.TB) engines {
	t.Helper()
	mg, err := NewModelguard()
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCedar()
	if err != nil {
		t.Fatal(err)
	}
	o, err := NewOPA(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return engines{mg, c, o}
}

// TestEquivalence holds all three engines to the same answers.
func TestEquivalence(t *testing.T) {
	t.Parallel()
	e := newEngines(t)
	ctx := context.Background()
	decide := map[string]func(Call) (Verdict, error){
		"modelguard": func(c Call) (Verdict, error) { return e.mg.Decide(ctx, c) },
		"cedar":      e.cedar.Decide,
		"opa":        func(c Call) (Verdict, error) { return e.opa.Decide(ctx, c) },
	}
	for _, tc := range equivalenceCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for engine, f := range decide {
				got, err := f(tc.call)
				if err != nil {
					t.Errorf("%s: %v", engine, err)
					continue
				}
				if got.Allowed != tc.want.Allowed || !slices.Equal(got.Rules, tc.want.Rules) {
					t.Errorf("%s: got %+v, want %+v", engine, got, tc.want)
				}
			}
		})
	}
}

// TestGuardEquivalence puts the same cases through the whole guarded call, so
// that the guarded benchmark does the same work too.
func TestGuardEquivalence(t *testing.T) {
	t.Parallel()
	g := newGuards(t, newEngines(t).mg)
	for _, tc := range equivalenceCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err := g.calls[tc.call.Tool](g.ctx(t, tc.call.Identity), tc.call.Args)
			var de *tools.DeniedError
			switch {
			case tc.want.Allowed && err != nil:
				t.Fatalf("denied: %v", err)
			case !tc.want.Allowed && !errors.As(err, &de):
				t.Fatalf("got %v, want a *tools.DeniedError", err)
			case !tc.want.Allowed && !slices.Equal(sorted(de.Rules), tc.want.Rules):
				t.Fatalf("denied by %v, want %v", de.Rules, tc.want.Rules)
			}
		})
	}
}

// TestCoverage checks that the cases exercise every rule of every engine.
func TestCoverage(t *testing.T) {
	t.Parallel()
	e := newEngines(t)
	seen := map[string]bool{}
	for _, tc := range equivalenceCases {
		for _, id := range tc.want.Rules {
			seen[id] = true
		}
	}
	for _, r := range e.mg.Set().Rules() {
		if !seen[r.ID] {
			t.Errorf("modelguard rule %s decides no case", r.ID)
		}
	}
	for id := range e.cedar.Policies().All() {
		if !seen[string(id)] {
			t.Errorf("cedar policy %s decides no case", id)
		}
	}
	mods := e.opa.Allow().Modules()
	n := 0
	for _, m := range mods {
		for _, r := range m.Rules {
			if name := r.Head.Name.String(); name == "permits" || name == "forbids" {
				n++
			}
		}
	}
	if n != len(seen) || len(seen) != len(e.mg.Set().Rules()) {
		t.Errorf("opa has %d permit and forbid rules, modelguard %d, cases decide by %d", n, len(e.mg.Set().Rules()), len(seen))
	}
}
