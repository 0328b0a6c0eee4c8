package policy

import (
	"context"
	"fmt"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
)

// constraints caches compiled one-off expressions (approval grant constraints) per
// program. Grants are few; the cache is bounded all the same.
type constraints struct {
	mu    sync.Mutex
	progs map[string]cel.Program
}

const maxConstraints = 1024

// Check evaluates a bool CEL expression that is not part of the policy (an
// approval grant's constraint) against in, in the tool's environment: it sees
// identity, tool, args, request and grant as rules do, and is held to the same
// size, nesting and cost limits. A constraint that does not compile, fails or is
// not true yields false with the reason.
func (p *Program) Check(ctx context.Context, expr string, in Input) (bool, error) {
	if err := p.built(); err != nil {
		return false, err
	}
	prg, err := p.constraint(expr)
	if err != nil {
		return false, err
	}
	act := &activation{identity: in.Identity, tool: p.toolVal, args: in.Args, request: in.Request, grant: in.Grant,
		session: in.Session, history: in.Principal}
	out, _, err := prg.ContextEval(ctx, act)
	if err != nil {
		return false, &Error{Tool: p.tool.Name, Err: ErrEval, Msg: "constraint: " + err.Error()}
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, &Error{Tool: p.tool.Name, Err: ErrEval, Msg: fmt.Sprintf("constraint yielded %v, not bool", out)}
	}
	return bool(b), nil
}

func (p *Program) constraint(expr string) (cel.Program, error) {
	p.cons.mu.Lock()
	defer p.cons.mu.Unlock()
	if prg, ok := p.cons.progs[expr]; ok {
		return prg, nil
	}
	r := &Rule{ID: "grant-constraint"}
	a, errs := p.set.compileExpr(p.env, r, p.tool.Name, expr, Position{File: "<grant>"}, cel.BoolType, nil)
	if len(errs) > 0 {
		return nil, errs[0]
	}
	prg, err := p.set.program(p.env, a, true, false)
	if err != nil {
		return nil, err
	}
	if p.cons.progs == nil || len(p.cons.progs) >= maxConstraints {
		p.cons.progs = map[string]cel.Program{}
	}
	p.cons.progs[expr] = prg
	return prg, nil
}
