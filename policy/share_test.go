package policy_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
)

// Three input shapes for fleets of tools; every one has an id.
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

var fleetTypes = []reflect.Type{reflect.TypeFor[fleetA](), reflect.TypeFor[fleetB](), reflect.TypeFor[fleetC]()}

// fleetArgs is an input of type t with the given id.
func fleetArgs(t reflect.Type, id string) any {
	v := reflect.New(t)
	v.Elem().Field(0).SetString(id)
	return v.Interface()
}

// fleet is n tools (svc.t0 …, input types in turn) under one rule per tool
// (conditioned on the agent, and on the id too if onArgs) and globs rules
// covering all of them.
func fleet(n, globs int, onArgs bool) ([]policy.Tool, []policy.Rule) {
	tools := make([]policy.Tool, n)
	var rules []policy.Rule
	for i := range tools {
		tools[i] = policy.Tool{Name: fmt.Sprintf("svc.t%d", i), Input: fleetTypes[i%len(fleetTypes)]}
		when := fmt.Sprintf(`identity.agent == "agent-%d" && "tickets:read" in identity.scopes`, i)
		if onArgs {
			when = fmt.Sprintf(`identity.agent == "agent-%d" && args.id.startsWith("T-")`, i)
		}
		rules = append(rules, policy.Rule{ID: fmt.Sprintf("t%d", i), Effect: policy.Permit, Tools: []string{tools[i].Name}, When: when})
	}
	for g := range globs {
		r := policy.Rule{ID: fmt.Sprintf("glob%d", g), Effect: policy.Forbid, Tools: []string{"svc.*"},
			When: fmt.Sprintf(`args.id == "X-%d" || identity.env == "blocked-%d"`, g, g), Message: "'blocked for ' + identity.sub"}
		if g%2 == 1 {
			r.Effect, r.Message = policy.Permit, ""
			r.When = fmt.Sprintf(`args.id == "G-%d" && tool.name.endsWith("%d")`, g, g%10)
		}
		rules = append(rules, r)
	}
	return tools, rules
}

// TestSharedCompileSameDecisions holds programs whose rules are shared between
// tools of one shape to programs compiled afresh per tool: random fleets
// (names, globs, labels, input types, conditions on args, tool and identity),
// every tool, random calls — the decisions are the same.
func TestSharedCompileSameDecisions(t *testing.T) {
	t.Parallel()
	for seed := range uint64(16) {
		rng := rand.New(rand.NewPCG(seed, 17))
		set, tools := randomFleet(t, rng)
		for _, tool := range tools {
			shared, err1 := set.Compile(tool)
			fresh, err2 := policy.CompileUnshared(set, tool)
			if fmt.Sprint(err1) != fmt.Sprint(err2) {
				t.Fatalf("seed %d tool %s: shared error %v, fresh %v", seed, tool.Name, err1, err2)
			}
			if err1 != nil {
				continue
			}
			for range 30 {
				in := randomInput(rng, tool.Input)
				d1, d2 := shared.Decide(context.Background(), in), fresh.Decide(context.Background(), in)
				if fmt.Sprintf("%+v", d1) != fmt.Sprintf("%+v", d2) {
					t.Fatalf("seed %d tool %s input %+v:\nshared %+v\nfresh  %+v", seed, tool.Name, in, d1, d2)
				}
			}
		}
	}
}

var (
	fleetNames  = []string{"svc.a", "svc.b", "svc.c1", "ops.a", "ops.x/y", "t"}
	fleetPats   = []string{"svc.a", "svc.*", "*", "ops.?", "ops.*", "*.a", "t", "svc.c?", "none"}
	fleetLabels = []string{"pii", "write", "net"}
	fleetConds  = []string{"", `args.id == "A"`, `args.id.startsWith("B")`, `identity.agent == "bot"`,
		`tool.name == "svc.a"`, `"pii" in tool.labels`, `identity.env != "prod" || args.id == "C"`,
		`size(args.id) > 1`, `args.id in ["A", "B"]`}
)

func randomFleet(t *testing.T, rng *rand.Rand) (*policy.Set, []policy.Tool) {
	t.Helper()
	var rules []policy.Rule
	for i := range 1 + rng.IntN(12) {
		r := policy.Rule{ID: fmt.Sprintf("r%d", i), Effect: policy.Permit, When: fleetConds[rng.IntN(len(fleetConds))]}
		if rng.IntN(3) == 0 {
			r.Effect = policy.Forbid
			r.Message = "'no for ' + identity.agent"
		}
		for range rng.IntN(3) {
			r.Tools = append(r.Tools, fleetPats[rng.IntN(len(fleetPats))])
		}
		if rng.IntN(3) == 0 || len(r.Tools) == 0 {
			r.Labels = []string{fleetLabels[rng.IntN(len(fleetLabels))]}
		}
		if rng.IntN(5) == 0 {
			r.Mode = policy.Shadow
		}
		if r.Effect == policy.Permit && rng.IntN(4) == 0 {
			r.AddLabels = []string{"private", `'id:' + args.id`}
		}
		if rng.IntN(4) == 0 {
			r.Variables = []policy.Variable{{Name: "v", Expr: `args.id + "x"`}}
			r.When = `variables.v == "Ax" || variables.v.startsWith("B")`
		}
		rules = append(rules, r)
	}
	set, err := policy.NewSet(rules, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var tools []policy.Tool
	for _, n := range fleetNames {
		for range 1 + rng.IntN(2) {
			tl := policy.Tool{Name: n, Input: fleetTypes[rng.IntN(len(fleetTypes))]}
			if rng.IntN(2) == 0 {
				tl.Labels = []string{fleetLabels[rng.IntN(len(fleetLabels))]}
			}
			tools = append(tools, tl)
		}
	}
	return set, tools
}

func randomInput(rng *rand.Rand, t reflect.Type) policy.Input {
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	return policy.Input{
		Identity: &identity.Claims{Subject: "m", Agent: pick("bot", "other", "agent-3"), Env: pick("prod", "dev")},
		Args:     fleetArgs(t, pick("A", "B", "C", "Bx", "", "T-1")),
	}
}
