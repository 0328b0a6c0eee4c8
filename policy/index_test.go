package policy_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
)

var (
	indexConds = []string{
		`identity.agent == "a%d"`, `"a%d" == identity.agent`, `identity.tenant == "t%d"`, `identity.model.name == "m%d"`,
		`args.id == "T-%d"`, `int(args.id) > %d`, `identity.agent.startsWith("a%d")`,
		`(identity.agent == "a%d" || identity.env == "prod")`, `!(identity.agent == "a%d")`, `identity.env != "e%d"`,
		`[1, 2].exists(x, x == %d)`,
	}
	indexAgents = []string{"a0", "a1", "a2", "a3", "a10", ""}
)

// indexRules builds a policy from data: rules for one tool whose conditions
// are conjunctions of equalities with claims (indexed), other tests, failing
// ones (int of a non-number) and loops.
func indexRules(data []byte) []policy.Rule {
	next := func() int {
		if len(data) == 0 {
			return 0
		}
		b := int(data[0])
		data = data[1:]
		return b
	}
	n := 8 + next()%40
	rules := make([]policy.Rule, n)
	for i := range rules {
		r := policy.Rule{ID: fmt.Sprintf("r%d", i), Effect: policy.Permit, Tools: []string{"tickets.get"}}
		switch next() % 5 {
		case 0:
			r.Effect, r.Message = policy.Forbid, "'no for ' + identity.agent"
		case 1:
			r.Mode = policy.Shadow
		}
		var parts []string
		for range 1 + next()%3 {
			parts = append(parts, fmt.Sprintf(indexConds[next()%len(indexConds)], next()%4))
		}
		if next()%2 == 0 {
			parts = append([]string{fmt.Sprintf(`identity.agent == "a%d"`, next()%4)}, parts...)
		}
		r.When = strings.Join(parts, " && ")
		rules[i] = r
	}
	return rules
}

// FuzzEqualityIndex holds programs with the equality index to programs that
// evaluate every rule: the same decisions, in full, for every claim.
func FuzzEqualityIndex(f *testing.F) {
	f.Add([]byte{0})
	f.Add([]byte{30, 0, 0, 0, 0, 0, 1, 2, 0, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	f.Add([]byte("the equality index must give the very same decisions as evaluating every rule"))
	rng := rand.New(rand.NewPCG(17, 2))
	for range 40 {
		data := make([]byte, 64)
		for i := range data {
			data[i] = byte(rng.IntN(256))
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		set, err := policy.NewSet(indexRules(data), policy.Options{})
		if err != nil {
			t.Skip(err)
		}
		tool := policy.Tool{Name: "tickets.get", Input: reflect.TypeFor[ticketArgs]()}
		indexed, err := set.Compile(tool)
		if err != nil {
			t.Skip(err)
		}
		plain, err := policy.CompileUnindexed(set, tool)
		if err != nil {
			t.Fatal(err)
		}
		for _, agent := range indexAgents {
			for _, id := range []string{"T-1", "7"} {
				in := policy.Input{Identity: &identity.Claims{Subject: "m", Agent: agent, Tenant: "t1", Env: "prod",
					Model: identity.Model{Name: "m2"}}, Args: &ticketArgs{ID: id}}
				d1, d2 := indexed.Decide(context.Background(), in), plain.Decide(context.Background(), in)
				if fmt.Sprintf("%+v", d1) != fmt.Sprintf("%+v", d2) {
					t.Fatalf("agent %q id %q:\nindexed   %+v\nunindexed %+v", agent, id, d1, d2)
				}
			}
		}
	})
}

// TestEqualityIndexUsed: a rule per agent is indexed, and decides as the
// unindexed program does for agents with, without and between rules.
func TestEqualityIndexUsed(t *testing.T) {
	t.Parallel()
	set, tool := agentRules(t, 1000)
	p, err := set.Compile(tool)
	if err != nil {
		t.Fatal(err)
	}
	if policy.Indexed(p) != 1 {
		t.Fatalf("want one index, got %d", policy.Indexed(p))
	}
	plain, err := policy.CompileUnindexed(set, tool)
	if err != nil {
		t.Fatal(err)
	}
	for _, agent := range []string{"agent-0", "agent-999", "agent-1000", "", "agent-5"} {
		in := policy.Input{Identity: &identity.Claims{Agent: agent, Scopes: []string{"tickets:read"}}, Args: &ticketArgs{ID: "T-1"}}
		d1, d2 := p.Decide(context.Background(), in), plain.Decide(context.Background(), in)
		if fmt.Sprintf("%+v", d1) != fmt.Sprintf("%+v", d2) {
			t.Fatalf("agent %q: indexed %+v, unindexed %+v", agent, d1, d2)
		}
		if want := agent != "" && agent != "agent-1000"; d1.Allowed != want {
			t.Fatalf("agent %q: allowed %v", agent, d1.Allowed)
		}
	}
}

// agentRules is n rules for tickets.get, one per agent, plus a forbid that
// covers the tool whatever the agent.
func agentRules(tb testing.TB, n int) (*policy.Set, policy.Tool) {
	tb.Helper()
	rules := []policy.Rule{{ID: "no-closed", Effect: policy.Forbid, Tools: []string{"tickets.*"}, When: `args.id.startsWith("closed/")`}}
	for i := range n {
		rules = append(rules, policy.Rule{ID: fmt.Sprintf("agent-%d", i), Effect: policy.Permit, Tools: []string{"tickets.get"},
			When: fmt.Sprintf(`identity.agent == "agent-%d" && "tickets:read" in identity.scopes`, i)})
	}
	set, err := policy.NewSet(rules, policy.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return set, policy.Tool{Name: "tickets.get", Input: reflect.TypeFor[ticketArgs]()}
}

// BenchmarkDecideAgents decides one call for a tool covered by n rules, one
// per agent (plus a forbid on args), the caller's agent being one of them:
// "indexed" is Set.Compile, "all" evaluates every rule. Target: indexed at
// 10,000 rules ≤ 2× indexed at 10.
func BenchmarkDecideAgents(b *testing.B) {
	for _, n := range []int{10, 100, 1000, 10000} {
		set, tool := agentRules(b, n)
		for _, mode := range []string{"indexed", "all"} {
			compile := (*policy.Set).Compile
			if mode == "all" {
				compile = policy.CompileUnindexed
			}
			p, err := compile(set, tool)
			if err != nil {
				b.Fatal(err)
			}
			in := policy.Input{Identity: &identity.Claims{Agent: fmt.Sprintf("agent-%d", n/2), Scopes: []string{"tickets:read"}},
				Args: &ticketArgs{ID: "T-1"}}
			b.Run(fmt.Sprintf("%s/rules=%d", mode, n), func(b *testing.B) {
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					if d := p.Decide(ctx, in); !d.Allowed {
						b.Fatal(d)
					}
				}
			})
		}
	}
}

// BenchmarkDecideUncovered decides a call for a tool covered by two rules
// in a set of n: the rules that do not cover the tool cost nothing.
func BenchmarkDecideUncovered(b *testing.B) {
	for _, n := range []int{10, 100, 1000, 10000} {
		rules := []policy.Rule{
			{ID: "read", Effect: policy.Permit, Tools: []string{"tickets.get"}, When: `identity.agent == "support-bot" && "tickets:read" in identity.scopes`},
			{ID: "no-closed", Effect: policy.Forbid, Tools: []string{"tickets.*"}, When: `args.id.startsWith("closed/")`},
		}
		for i := range n - 2 {
			rules = append(rules, policy.Rule{ID: fmt.Sprintf("other-%d", i), Effect: policy.Permit, Tools: []string{fmt.Sprintf("svc.t%d", i)},
				When: fmt.Sprintf(`identity.agent == "agent-%d"`, i)})
		}
		set, err := policy.NewSet(rules, policy.Options{})
		if err != nil {
			b.Fatal(err)
		}
		p := mustCompile[ticketArgs](b, set, "tickets.get")
		in := policy.Input{Identity: supportBot(), Args: &ticketArgs{ID: "T-1"}}
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if d := p.Decide(ctx, in); !d.Allowed {
					b.Fatal(d)
				}
			}
		})
	}
}
