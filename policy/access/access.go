package access

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
)

// ErrInput is wrapped by every error about what was given to an analysis: a set
// not built by policy.NewSet, no tool, claims that do not parse.
var ErrInput = errors.New("access: bad input")

// Path is one way a tool may be reached: an enforced rule covering it and what
// its condition still asks once the known variables are substituted.
type Path struct {
	Rule   string        `json:"rule"`
	Effect policy.Effect `json:"effect"`
	// Always is set when the rule applies whatever the unknowns are.
	Always bool `json:"always,omitempty"`
	// Identity holds the clauses on the identity (and on nothing but it),
	// Args the clauses on the arguments alone, Other the rest (the request,
	// an approval grant, or several variables at once). Each is CEL.
	Identity []string `json:"identity,omitempty"`
	Args     []string `json:"args,omitempty"`
	Other    []string `json:"other,omitempty"`
	// Require, Redact, Limit and Budget are the rule's obligations.
	Require  []string       `json:"require,omitempty"`
	Redact   []string       `json:"redact,omitempty"`
	Limit    *policy.Limit  `json:"limit,omitempty"`
	Budget   *policy.Budget `json:"budget,omitempty"`
	Controls []string       `json:"controls,omitempty"`
	// Error is set when the rule fails to evaluate: it then denies.
	Error string `json:"error,omitempty"`
}

// Access says how one tool may be reached: the permit rules that may let a call
// through and the forbid rules that may stop it.
type Access struct {
	Tool    string `json:"tool"`
	Permits []Path `json:"permits"`
	Forbids []Path `json:"forbids"`
}

// Possible reports whether some call could be allowed: a permit may apply and
// no forbid applies whatever the unknowns.
func (a *Access) Possible() bool {
	if a == nil || len(a.Permits) == 0 {
		return false
	}
	for _, f := range a.Forbids {
		if f.Always {
			return false
		}
	}
	for _, p := range a.Permits {
		if p.Error == "" {
			return true
		}
	}
	return false
}

// WhoCan returns, from the policy alone, who may call tool: every enforced permit
// rule covering it with the conditions it sets on the identity and on the
// arguments, and every forbid rule that may deny it. Shadow rules are left out:
// they decide nothing.
func WhoCan(ctx context.Context, set *policy.Set, tool policy.Tool) (Access, error) {
	return reach(ctx, set, tool, nil)
}

// WhatCan returns, from the policy alone, every tool of tools that the identity id
// may call, with what each permit still asks of the arguments, the request or a
// grant. A tool no permit can reach, or that a forbid denies whatever the
// arguments, is left out. Use [Tools] for the tools the policy names.
func WhatCan(ctx context.Context, set *policy.Set, id *identity.Claims, tools []policy.Tool) ([]Access, error) {
	return newPrograms(set).whatCan(ctx, id, tools)
}

// programs compiles a set once per tool, for analyses that ask many questions.
type programs struct {
	set      *policy.Set
	progs    map[string]*policy.Program
	partials map[string]*policy.Partial
}

func newPrograms(set *policy.Set) *programs {
	return &programs{set: set, progs: map[string]*policy.Program{}, partials: map[string]*policy.Partial{}}
}

func (ps *programs) partial(tool policy.Tool) (*policy.Partial, error) {
	if q := ps.partials[tool.Name]; q != nil {
		return q, nil
	}
	p, err := ps.get(tool)
	if err != nil {
		return nil, err
	}
	q, err := p.Partial()
	if err != nil {
		return nil, err
	}
	ps.partials[tool.Name] = q
	return q, nil
}

func (ps *programs) get(tool policy.Tool) (*policy.Program, error) {
	if err := ps.set.Ready(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInput, err)
	}
	if p := ps.progs[tool.Name]; p != nil {
		return p, nil
	}
	p, err := ps.set.Compile(tool)
	if err != nil {
		return nil, err
	}
	ps.progs[tool.Name] = p
	return p, nil
}

func (ps *programs) whatCan(ctx context.Context, id *identity.Claims, tools []policy.Tool) ([]Access, error) {
	if id == nil {
		return nil, fmt.Errorf("%w: WhatCan needs claims", ErrInput)
	}
	var out []Access
	for _, t := range tools {
		a, err := ps.reach(ctx, t, id)
		if err != nil {
			return nil, err
		}
		if a.Possible() {
			out = append(out, a)
		}
	}
	return out, nil
}

func reach(ctx context.Context, set *policy.Set, tool policy.Tool, id *identity.Claims) (Access, error) {
	return newPrograms(set).reach(ctx, tool, id)
}

func (ps *programs) reach(ctx context.Context, tool policy.Tool, id *identity.Claims) (Access, error) {
	q, err := ps.partial(tool)
	if err != nil {
		return Access{}, err
	}
	rs, err := q.Residuals(ctx, id)
	if err != nil {
		return Access{}, err
	}
	a := Access{Tool: tool.Name, Permits: []Path{}, Forbids: []Path{}}
	for _, r := range rs {
		p := path(r)
		if r.Rule.Effect == policy.Forbid {
			a.Forbids = append(a.Forbids, p)
		} else {
			a.Permits = append(a.Permits, p)
		}
	}
	return a, nil
}

func path(r policy.Residual) Path {
	p := Path{Rule: r.Rule.ID, Effect: r.Rule.Effect, Always: r.Always, Require: r.Rule.Require,
		Redact: r.Rule.Redact, Limit: r.Rule.Limit, Budget: r.Rule.Budget, Controls: r.Rule.Controls}
	if r.Err != nil {
		p.Error = r.Err.Error()
	}
	for _, c := range r.Clauses {
		switch {
		case slices.Equal(c.Vars, []string{"identity"}):
			p.Identity = append(p.Identity, c.Expr)
		case slices.Equal(c.Vars, []string{"args"}):
			p.Args = append(p.Args, c.Expr)
		default:
			p.Other = append(p.Other, c.Expr)
		}
	}
	return p
}

// Tools returns the tools a set names literally (patterns without wildcards),
// sorted, plus the extra names given, without duplicates. A glob covers tools
// the policy cannot list: give them as extra (from a registry, or as seen in an
// audit log).
func Tools(set *policy.Set, extra ...string) []policy.Tool {
	names := slices.Clone(extra)
	for _, r := range set.Rules() {
		for _, pat := range r.Tools {
			if !strings.ContainsAny(pat, `*?\`) {
				names = append(names, pat)
			}
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	out := make([]policy.Tool, 0, len(names))
	for _, n := range names {
		if n != "" {
			out = append(out, policy.Tool{Name: n})
		}
	}
	return out
}
