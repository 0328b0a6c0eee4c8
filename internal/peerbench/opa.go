package peerbench

import (
	"context"
	"fmt"

	"github.com/open-policy-agent/opa/v1/rego"
)

// OPA decides calls with OPA: policies/policy.rego, prepared once per query.
type OPA struct {
	allow    rego.PreparedEvalQuery
	deciding rego.PreparedEvalQuery
}

// NewOPA compiles the policy and prepares two queries: data.peerbench.allow, the
// decision, and data.peerbench.deciding, the rules that decided.
func NewOPA(ctx context.Context) (*OPA, error) {
	allow, err := prepare(ctx, "data.peerbench.allow")
	if err != nil {
		return nil, err
	}
	deciding, err := prepare(ctx, "data.peerbench.deciding")
	if err != nil {
		return nil, err
	}
	return &OPA{allow: allow, deciding: deciding}, nil
}

func prepare(ctx context.Context, query string) (rego.PreparedEvalQuery, error) {
	return rego.New(
		rego.Query(query),
		rego.Module("policy.rego", string(mustPolicy("policy.rego"))),
	).PrepareForEval(ctx)
}

// Allow returns the prepared query data.peerbench.allow.
func (o *OPA) Allow() rego.PreparedEvalQuery { return o.allow }

// OPAInput returns c as the input document: {"identity": {"sub", "agent", "env",
// "scopes"}, "tool": name, "args": {...}}, built from Go maps and slices, the
// shape OPA converts most directly.
func (c Call) OPAInput() (map[string]any, error) {
	args, err := c.argsMap()
	if err != nil {
		return nil, err
	}
	scopes := make([]any, len(c.Identity.Scopes))
	for i, s := range c.Identity.Scopes {
		scopes[i] = s
	}
	return map[string]any{
		"identity": map[string]any{
			"sub":    c.Identity.Subject,
			"agent":  c.Identity.Agent,
			"env":    c.Identity.Env,
			"scopes": scopes,
		},
		"tool": c.Tool,
		"args": args,
	}, nil
}

// Decide answers c with both queries.
func (o *OPA) Decide(ctx context.Context, c Call) (Verdict, error) {
	input, err := c.OPAInput()
	if err != nil {
		return Verdict{}, err
	}
	rs, err := o.allow.Eval(ctx, rego.EvalInput(input))
	if err != nil {
		return Verdict{}, err
	}
	v := Verdict{Allowed: rs.Allowed()}
	rs, err = o.deciding.Eval(ctx, rego.EvalInput(input))
	if err != nil {
		return Verdict{}, err
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return Verdict{}, fmt.Errorf("peerbench: opa: deciding is undefined: %v", rs)
	}
	ids, ok := rs[0].Expressions[0].Value.([]any)
	if !ok {
		return Verdict{}, fmt.Errorf("peerbench: opa: deciding is %T, want a set", rs[0].Expressions[0].Value)
	}
	for _, id := range ids {
		s, ok := id.(string)
		if !ok {
			return Verdict{}, fmt.Errorf("peerbench: opa: rule id %v is not a string", id)
		}
		v.Rules = append(v.Rules, s)
	}
	v.Rules = sorted(v.Rules)
	return v, nil
}
