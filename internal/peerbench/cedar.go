package peerbench

import (
	"encoding/json"
	"fmt"

	"github.com/cedar-policy/cedar-go"
)

// Cedar decides calls with cedar-go: policies/policy.cedar, each policy named by
// its @id annotation.
type Cedar struct {
	policies *cedar.PolicySet
}

// NewCedar parses the policy.
func NewCedar() (*Cedar, error) {
	list, err := cedar.NewPolicyListFromBytes("policy.cedar", mustPolicy("policy.cedar"))
	if err != nil {
		return nil, err
	}
	ps := cedar.NewPolicySet()
	for _, p := range list {
		id, ok := p.Annotations()["id"]
		if !ok || !ps.Add(cedar.PolicyID(id), p) {
			return nil, fmt.Errorf("peerbench: cedar policy at %v: missing or repeated @id", p.Position())
		}
	}
	return &Cedar{policies: ps}, nil
}

// Policies returns the policy set.
func (c *Cedar) Policies() *cedar.PolicySet { return c.policies }

// CedarRequest returns c as a Cedar request and the entities it needs: the principal
// is Model::"sub" with attributes agent, env and scopes (a set); the action is
// Action::"tool"; the resource is Tool::"tool"; the context is the arguments.
func (c Call) CedarRequest() (cedar.EntityMap, cedar.Request, error) {
	args, err := c.argsMap()
	if err != nil {
		return nil, cedar.Request{}, err
	}
	ctx := cedar.RecordMap{}
	for k, v := range args {
		if ctx[cedar.String(k)], err = cedarValue(v); err != nil {
			return nil, cedar.Request{}, fmt.Errorf("peerbench: argument %s: %w", k, err)
		}
	}
	scopes := make([]cedar.Value, len(c.Identity.Scopes))
	for i, s := range c.Identity.Scopes {
		scopes[i] = cedar.String(s)
	}
	principal := cedar.NewEntityUID("Model", cedar.String(c.Identity.Subject))
	entities := cedar.EntityMap{principal: cedar.Entity{
		UID: principal,
		Attributes: cedar.NewRecord(cedar.RecordMap{
			"agent":  cedar.String(c.Identity.Agent),
			"env":    cedar.String(c.Identity.Env),
			"scopes": cedar.NewSet(scopes...),
		}),
	}}
	req := cedar.Request{
		Principal: principal,
		Action:    cedar.NewEntityUID("Action", cedar.String(c.Tool)),
		Resource:  cedar.NewEntityUID("Tool", cedar.String(c.Tool)),
		Context:   cedar.NewRecord(ctx),
	}
	return entities, req, nil
}

func cedarValue(v any) (cedar.Value, error) {
	switch v := v.(type) {
	case string:
		return cedar.String(v), nil
	case json.Number:
		n, err := v.Int64()
		return cedar.Long(n), err
	case bool:
		return cedar.Boolean(v), nil
	}
	return nil, fmt.Errorf("no Cedar value for %T", v)
}

// Decide answers call. Cedar skips a policy that fails to evaluate; the policy
// is written so that none does, and any error is reported.
func (c *Cedar) Decide(call Call) (Verdict, error) {
	entities, req, err := call.CedarRequest()
	if err != nil {
		return Verdict{}, err
	}
	ok, diag := cedar.Authorize(c.policies, entities, req)
	if len(diag.Errors) > 0 {
		return Verdict{}, fmt.Errorf("peerbench: cedar: %v", diag.Errors)
	}
	v := Verdict{Allowed: ok == cedar.Allow}
	for _, r := range diag.Reasons {
		v.Rules = append(v.Rules, string(r.PolicyID))
	}
	v.Rules = sorted(v.Rules)
	return v, nil
}
