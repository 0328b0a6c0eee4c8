package policy

import (
	"context"
	"fmt"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/interpreter"
	celparser "cel.dev/cel-go/parser"
)

// Explanation is a full account of one decision: the decision itself and what every
// rule covering the tool did.
type Explanation struct {
	Tool     string
	Decision Decision
	Rules    []RuleTrace
}

// RuleTrace is what one rule did for one input.
type RuleTrace struct {
	Rule   string
	Effect Effect
	Mode   Mode
	Pos    Position
	// Matched is true when the rule's condition held (or the rule failed, which
	// counts as a match of a forbid).
	Matched bool
	// Error is the evaluation failure, if any.
	Error string
	// False lists, for a rule whose condition did not hold, the clauses of its
	// condition that were false: each conjunct of a top-level && (and each
	// disjunct of a false ||), in source form.
	False []string
}

// Explain decides in as [Program.Decide] does and reports, for every rule that
// covers the tool, whether it matched and, when it did not, which clauses of its
// condition were false. It evaluates every sub-expression, so it is much slower
// than Decide: use it to debug policies, not on the hot path.
func (p *Program) Explain(ctx context.Context, in Input) (Explanation, error) {
	if err := p.built(); err != nil {
		return Explanation{}, err
	}
	ex := Explanation{Tool: p.tool.Name, Decision: p.Decide(ctx, in)}
	act := &activation{identity: in.Identity, tool: p.toolVal, args: in.Args, request: in.Request, grant: in.Grant,
		session: in.Session, history: in.Principal}
	for i := range p.rules {
		c := &p.rules[i]
		tr, err := p.trace(ctx, c, act)
		if err != nil {
			return ex, err
		}
		ex.Rules = append(ex.Rules, tr)
	}
	return ex, nil
}

func (p *Program) trace(ctx context.Context, c *compiledRule, act *activation) (RuleTrace, error) {
	r := c.rule
	tr := RuleTrace{Rule: r.ID, Effect: r.Effect, Mode: r.Mode, Pos: r.Pos}
	if tr.Mode == "" {
		tr.Mode = Enforce
	}
	when := c.asts[0]
	if when == nil || act.identity == nil {
		tr.Matched = when == nil && act.identity != nil
		return tr, nil
	}
	prg, err := p.set.program(p.env, when, c.loops, true)
	if err != nil {
		return tr, fmt.Errorf("policy: explain rule %s: %w", r.ID, err)
	}
	out, det, err := prg.ContextEval(ctx, act)
	switch b, ok := out.(types.Bool); {
	case err != nil || types.IsError(out):
		tr.Matched, tr.Error = true, fmt.Sprint(firstErr(err, out))
	case !ok:
		tr.Matched, tr.Error = true, fmt.Sprintf("when yielded %s, not bool", out.Type().TypeName())
	case bool(b):
		tr.Matched = true
	default:
		tr.False = falseClauses(when, det.State())
	}
	return tr, nil
}

func firstErr(err error, out any) any {
	if err != nil {
		return err
	}
	return out
}

// falseClauses returns the source of the clauses of a's top-level && that
// evaluated false, descending into || whose every branch was false.
func falseClauses(a *cel.Ast, st interpreter.EvalState) []string {
	info := a.NativeRep().SourceInfo()
	var out []string
	var walk func(e ast.Expr)
	walk = func(e ast.Expr) {
		if v, ok := st.Value(e.ID()); !ok || v != types.False {
			return
		}
		if e.Kind() == ast.CallKind {
			switch e.AsCall().FunctionName() {
			case operators.LogicalAnd, operators.LogicalOr:
				for _, arg := range e.AsCall().Args() {
					walk(arg)
				}
				return
			}
		}
		if s, err := celparser.Unparse(e, info); err == nil {
			out = append(out, s)
		}
	}
	walk(a.NativeRep().Expr())
	return out
}
