package tools_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
)

// Three input types for a fleet of guards.
type (
	fleetA struct {
		ID       string `json:"id"`
		Priority int    `json:"priority"`
	}
	fleetB struct {
		ID     string `json:"id"`
		Amount int64  `json:"amount"`
	}
	fleetC struct {
		ID   string   `json:"id"`
		Tags []string `json:"tags"`
	}
)

// fleetRules is one rule per tool svc.t0 … svc.t<perTool-1> on the identity
// and globs rules on args covering every svc tool.
func fleetRules(tb testing.TB, perTool, globs int) *policy.Set {
	tb.Helper()
	var rules []policy.Rule
	for i := range perTool {
		rules = append(rules, policy.Rule{ID: fmt.Sprintf("t%d", i), Effect: policy.Permit, Tools: []string{fmt.Sprintf("svc.t%d", i)},
			When: fmt.Sprintf(`identity.agent == "agent-%d" && "tickets:read" in identity.scopes`, i)})
	}
	for g := range globs {
		rules = append(rules, policy.Rule{ID: fmt.Sprintf("glob%d", g), Effect: policy.Forbid, Tools: []string{"svc.*"},
			When: fmt.Sprintf(`args.id == "X-%d" || identity.env == "blocked-%d"`, g, g), Message: "'blocked for ' + identity.sub"})
	}
	set, err := policy.NewSet(rules, policy.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return set
}

// registerFleet registers n guards svc.t0 … on e, input types in turn.
func registerFleet(tb testing.TB, e *tools.Enforcer, n int) {
	tb.Helper()
	for i := range n {
		name := fmt.Sprintf("svc.t%d", i)
		var err error
		switch i % 3 {
		case 0:
			_, err = tools.NewGuard(e, tools.Tool{Name: name}, func(context.Context, fleetA) (string, error) { return "", nil })
		case 1:
			_, err = tools.NewGuard(e, tools.Tool{Name: name}, func(context.Context, fleetB) (string, error) { return "", nil })
		default:
			_, err = tools.NewGuard(e, tools.Tool{Name: name}, func(context.Context, fleetC) (string, error) { return "", nil })
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkSetPolicy swaps in a freshly loaded policy of 1,010 rules (one per
// tool, 10 globs) for 1,000 registered guards of three input types. Target:
// ≤ 100 ms and ≤ 30 MB an op; policy.BenchmarkCompileFleet has the baseline.
func BenchmarkSetPolicy(b *testing.B) {
	f := newFixture(b, discard)
	e, err := tools.NewEnforcer(f.enf.Verifier(), fleetRules(b, 1000, 10), discard, tools.Options{})
	if err != nil {
		b.Fatal(err)
	}
	registerFleet(b, e, 1000)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		set := fleetRules(b, 1000, 10)
		b.StartTimer()
		if err := e.SetPolicy(ctx, set); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRegisterFleet registers 1,000 guards of three input types under a
// policy of 100 globs covering all of them. Target: ≤ 1 s and ≤ 200 MB an op.
func BenchmarkRegisterFleet(b *testing.B) {
	f := newFixture(b, discard)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		e, err := tools.NewEnforcer(f.enf.Verifier(), fleetRules(b, 0, 100), discard, tools.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		registerFleet(b, e, 1000)
	}
}
