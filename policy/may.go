package policy

import (
	"context"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"

	"github.com/modelguard/modelguard/identity"
)

// partial holds programs for partial evaluation, built on first use: MayAllow is
// not on the hot path of a call.
type partial struct {
	once  sync.Once
	progs []cel.Program // by rule index; nil: no condition
	err   error
}

// MayAllow reports whether a call to the tool by id could be allowed for some
// arguments: whether an enforced permit rule holds or depends on the arguments,
// and no enforced forbid rule holds whatever the arguments. Use it to show a model
// only the tools it may call (an MCP tools/list filter); the call itself is still
// decided in full by [Program.Decide].
func (p *Program) MayAllow(ctx context.Context, id *identity.Claims, req Request) bool {
	if p.built() != nil {
		return false
	}
	if id == nil || ctx.Err() != nil {
		return false
	}
	p.partial.once.Do(p.buildPartial)
	if p.partial.err != nil {
		return false
	}
	act := &activation{identity: id, tool: p.toolVal, request: req}
	vars, err := cel.PartialVars(act, cel.AttributePattern(varArgs))
	if err != nil {
		return false
	}
	permit := false
	for i := range p.rules {
		r := p.rules[i].rule
		if !r.enforced() {
			continue
		}
		holds, maybe := p.partialEval(ctx, i, vars)
		switch {
		case r.Effect == Forbid && holds:
			return false
		case r.Effect == Permit && (holds || maybe):
			permit = true
		}
	}
	return permit
}

// partialEval evaluates rule i with args unknown: holds when it is true (or
// fails) whatever the arguments, maybe when the result depends on them.
func (p *Program) partialEval(ctx context.Context, i int, vars cel.PartialActivation) (holds, maybe bool) {
	prg := p.partial.progs[i]
	if prg == nil {
		return true, false
	}
	out, _, err := prg.ContextEval(ctx, vars)
	switch {
	case err != nil:
		return true, false
	case types.IsUnknown(out):
		return false, true
	case types.IsError(out):
		return true, false
	}
	b, ok := out.(types.Bool)
	return !ok || bool(b), false
}

func (p *Program) buildPartial() {
	p.partial.progs = make([]cel.Program, len(p.rules))
	for i, c := range p.rules {
		if c.asts[0] == nil {
			continue
		}
		opts := []cel.ProgramOption{cel.EvalOptions(cel.OptPartialEval)}
		if c.loops {
			opts = append(opts, cel.CostLimit(p.set.opts.CostLimit), cel.InterruptCheckFrequency(64))
		}
		prg, err := p.env.Program(c.asts[0], opts...)
		if err != nil {
			p.partial.err = err
			return
		}
		p.partial.progs[i] = prg
	}
}
