package policy_test

import (
	"context"
	"testing"

	"cel.dev/cel-go/cel"

	"github.com/modelguard/modelguard/policy"
)

// benchRule is the rule measured by BenchmarkDecide and BenchmarkRawCEL.
const benchRule = `identity.agent == "support-bot" && "tickets:read" in identity.scopes`

func BenchmarkDecide(b *testing.B) {
	s, err := policy.NewSet([]policy.Rule{{ID: "tickets-read", Effect: policy.Permit, Tools: []string{"tickets.get"}, When: benchRule}}, policy.Options{})
	if err != nil {
		b.Fatal(err)
	}
	p := mustCompile[ticketArgs](b, s, "tickets.get")
	in := policy.Input{Identity: supportBot(), Args: &ticketArgs{ID: "T-1"}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if d := p.Decide(ctx, in); !d.Allowed {
			b.Fatal(d)
		}
	}
}

// BenchmarkRawCEL evaluates the same rule with plain cel-go on a map activation:
// the floor any CEL-based engine starts from.
func BenchmarkRawCEL(b *testing.B) {
	env, err := cel.NewEnv(cel.Variable("identity", cel.MapType(cel.StringType, cel.DynType)))
	if err != nil {
		b.Fatal(err)
	}
	ast, iss := env.Compile(benchRule)
	if iss.Err() != nil {
		b.Fatal(iss.Err())
	}
	prg, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		b.Fatal(err)
	}
	vars := map[string]any{"identity": map[string]any{"agent": "support-bot", "scopes": []string{"tickets:read"}}}
	b.ReportAllocs()
	for b.Loop() {
		out, _, err := prg.Eval(vars)
		if err != nil || out != cel.BoolType && out.Value() != true {
			b.Fatal(out, err)
		}
	}
}
