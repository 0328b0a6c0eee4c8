package policy_test

import (
	"testing"

	"github.com/modelguard/modelguard/policy"
)

// BenchmarkCompileFleet compiles a policy for a fleet of tools, as
// Enforcer.SetPolicy and guard registration do: "setpolicy" is 1,000 tools
// (three input types) under 1,010 rules (one per tool on the identity, 10
// globs on args covering all), "setpolicy-args" the same with the per-tool
// rules on args too, "register" 1,000 tools under 100 globs. shared is Set.Compile (rules compiled once per input
// shape); unshared compiles every rule for every tool, the baseline. Each
// iteration compiles a fresh Set (its NewSet untimed), as a reload does.
func BenchmarkCompileFleet(b *testing.B) {
	for _, c := range []struct {
		name         string
		tools, globs int
		perTool      bool
		onArgs       bool
	}{{"setpolicy", 1000, 10, true, false}, {"setpolicy-args", 1000, 10, true, true}, {"register", 1000, 100, false, true}} {
		tools, rules := fleet(c.tools, c.globs, c.onArgs)
		if !c.perTool {
			rules = rules[c.tools:]
		}
		for _, mode := range []string{"shared", "unshared"} {
			compile := (*policy.Set).Compile
			if mode == "unshared" {
				compile = policy.CompileUnshared
			}
			b.Run(c.name+"/"+mode, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					b.StopTimer()
					set, err := policy.NewSet(rules, policy.Options{})
					if err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					for _, t := range tools {
						if _, err := compile(set, t); err != nil {
							b.Fatal(err)
						}
					}
				}
			})
		}
	}
}
