package policy

import (
	"context"
	"fmt"
	"slices"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/traits"
)

// ruleExtra is what a rule compiles to besides its condition, message and
// budget: its add_labels expressions, and which histories it reads.
type ruleExtra struct {
	labels []cel.Program
	asts   []*cel.Ast
	reads  Reads
}

// compileExtra compiles r's add_labels entries, each a CEL expression of type
// string or list(string), or plain text when it is not CEL (as a message is:
// "private" is the label private, "'invoice:' + args.invoice_id" is computed),
// and notes which histories r's expressions read.
func (s *Set) compileExtra(env *cel.Env, r *Rule, tool string, c *compiledRule) (*ruleExtra, []error) {
	x := &ruleExtra{reads: readsOf(c.asts[:]...)}
	if len(r.AddLabels) == 0 {
		return x, nil
	}
	env, inline, errs := s.varsEnv(env, r, tool)
	if len(errs) > 0 {
		return x, errs
	}
	for _, l := range r.AddLabels {
		a, more := s.compileText(env, r, tool, l, r.Pos, nil, inline)
		if len(more) > 0 {
			errs = append(errs, more...)
			continue
		}
		if t := a.OutputType(); !t.IsExactType(cel.StringType) && !t.IsExactType(cel.ListType(cel.StringType)) && !t.IsExactType(cel.DynType) {
			errs = append(errs, &Error{Pos: r.Pos, Rule: r.ID, Tool: tool, Err: ErrType,
				Msg: fmt.Sprintf("add_labels entry %q has type %s, want string or list(string)", l, t)})
			continue
		}
		loops := hasComprehension(a)
		prg, err := s.program(env, a, loops, false)
		if err != nil {
			errs = append(errs, &Error{Pos: r.Pos, Rule: r.ID, Tool: tool, Err: ErrType, Msg: err.Error()})
			continue
		}
		x.labels, x.asts = append(x.labels, prg), append(x.asts, a)
	}
	x.reads = x.reads.Or(readsOf(x.asts...))
	return x, errs
}

// addLabels evaluates the add_labels of a permit that allowed a call into o.
func (x *ruleExtra) addLabels(ctx context.Context, o *Obligations, act *activation, c *compiledRule) error {
	for _, prg := range x.labels {
		out, err := c.run(ctx, prg, act)
		if err != nil {
			return err
		}
		switch v := out.(type) {
		case types.String:
			if v == "" {
				return fmt.Errorf("add_labels yielded an empty label")
			}
			o.Labels = appendLabel(o.Labels, string(v))
		case traits.Lister:
			it := v.Iterator()
			for it.HasNext() == types.True {
				s, ok := it.Next().(types.String)
				if !ok || s == "" {
					return fmt.Errorf("add_labels yielded a list holding a non-string or an empty label")
				}
				o.Labels = appendLabel(o.Labels, string(s))
			}
		default:
			return fmt.Errorf("add_labels yielded %s, not a string or list of strings", out.Type().TypeName())
		}
	}
	return nil
}

func appendLabel(labels []string, l string) []string {
	if slices.Contains(labels, l) {
		return labels
	}
	return append(labels, l)
}

// Reads reports which histories the enforced rules of p read, and, in
// shadow, which its shadow rules read: decided at compile time, so the guard
// consults a session store only for tools whose rules need it.
func (p *Program) Reads() (enforced, shadow Reads) {
	if p == nil {
		return Reads{}, Reads{}
	}
	return p.reads, p.shadowReads
}

// useExtra notes r's labels and what it reads into p (x nil: r did not
// compile, and p is not returned).
func (p *Program) useExtra(r *Rule, x *ruleExtra) {
	if x == nil {
		return
	}
	if r.enforced() {
		p.reads = p.reads.Or(x.reads)
	} else {
		p.shadowReads = p.shadowReads.Or(x.reads)
	}
	if len(x.labels) > 0 {
		if p.extra == nil {
			p.extra = map[*Rule]*ruleExtra{}
		}
		p.extra[r] = x
	}
}
