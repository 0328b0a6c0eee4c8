package peerbench

import (
	"context"
	"fmt"
	"reflect"

	"github.com/modelguard/modelguard/policy"
)

// Modelguard decides calls with modelguard's policy engine: policies/modelguard.yaml
// compiled once per tool in [Tools].
type Modelguard struct {
	set      *policy.Set
	programs map[string]*policy.Program
}

// NewModelguard loads the policy and compiles it for every tool.
func NewModelguard() (*Modelguard, error) {
	rules, err := policy.Parse("modelguard.yaml", mustPolicy("modelguard.yaml"))
	if err != nil {
		return nil, err
	}
	set, err := policy.NewSet(rules, policy.Options{})
	if err != nil {
		return nil, err
	}
	m := &Modelguard{set: set, programs: make(map[string]*policy.Program, len(Tools))}
	for name, in := range Tools {
		p, err := set.Compile(policy.Tool{Name: name, Input: in})
		if err != nil {
			return nil, err
		}
		m.programs[name] = p
	}
	return m, nil
}

// Set returns the policy set, for building a tools.Enforcer.
func (m *Modelguard) Set() *policy.Set { return m.set }

// Program returns the compiled program for c's tool and c as its input, with the
// arguments behind a pointer as a guard passes them.
func (m *Modelguard) Program(c Call) (*policy.Program, policy.Input, error) {
	p, ok := m.programs[c.Tool]
	if !ok || reflect.TypeOf(c.Args) != Tools[c.Tool] {
		return nil, policy.Input{}, fmt.Errorf("peerbench: tool %q does not take %T", c.Tool, c.Args)
	}
	args := reflect.New(Tools[c.Tool])
	args.Elem().Set(reflect.ValueOf(c.Args))
	return p, policy.Input{Identity: c.Identity.Claims(), Args: args.Interface()}, nil
}

// Decide answers c.
func (m *Modelguard) Decide(ctx context.Context, c Call) (Verdict, error) {
	p, in, err := m.Program(c)
	if err != nil {
		return Verdict{}, err
	}
	d := p.Decide(ctx, in)
	if len(d.Errors) > 0 {
		return Verdict{}, fmt.Errorf("peerbench: modelguard: %v", d.Errors)
	}
	return Verdict{Allowed: d.Allowed, Rules: sorted(d.Rules)}, nil
}
