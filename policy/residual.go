package policy

import (
	"context"
	"fmt"
	"slices"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"

	"github.com/modelguard/modelguard/identity"
)

// Residual is what is left of one rule's condition once the known variables are
// substituted and the expression simplified: the condition on what was left
// unknown (the arguments, the request, the grant, and the identity when none was
// given). See [Program.Residuals].
type Residual struct {
	// Rule is the rule (with its effect, tools, obligations and controls).
	Rule Rule
	// Always is set when the condition holds whatever the unknowns are (no
	// condition, or one the known variables make true). Clauses is then empty.
	Always bool
	// Clauses are the conjuncts of the residual condition, each in CEL as written
	// by cel-go's unparser, with the variables it reads. The rule applies when
	// every clause holds. Variables of the rule are inlined.
	Clauses []Clause
	// Err is set when the partial evaluation failed (the rule would fail to
	// evaluate and so count as a matching forbid).
	Err error
}

// Clause is one conjunct of a residual condition.
type Clause struct {
	// Expr is the clause in CEL.
	Expr string
	// Vars are the top-level CEL variables the clause reads, sorted (args,
	// grant, history, identity, request, session, tool).
	Vars []string
}

// Reads reports whether the clause reads the CEL variable name.
func (c Clause) Reads(name string) bool { return slices.Contains(c.Vars, name) }

// Residuals partially evaluates every enforced rule covering the program's tool
// with args, request, grant, session and history unknown, and identity unknown
// too when id is nil, and returns, in policy order, the rules whose condition
// may still hold: what an identity (or, with id nil, anyone) needs for each
// rule to apply. A rule whose condition is false for id is left out. It reads
// the compiled, type-checked rules, so it answers for exactly the conditions
// [Program.Decide] evaluates.
//
// It prepares its evaluation plans on every call; to ask many questions of
// one program, prepare them once with [Program.Partial].
func (p *Program) Residuals(ctx context.Context, id *identity.Claims) ([]Residual, error) {
	q, err := p.Partial()
	if err != nil {
		return nil, err
	}
	return q.Residuals(ctx, id)
}

// Partial is a [Program] prepared for partial evaluation: analysis (who may
// call a tool, what an identity may call), not the hot path. It is immutable
// and safe for concurrent use.
type Partial struct {
	p     *Program
	plans []cel.Program // by rule index; nil: no condition, or errs[i] is set
	errs  []error
}

// Partial prepares p's rules for [Partial.Residuals].
func (p *Program) Partial() (*Partial, error) {
	if err := p.built(); err != nil {
		return nil, err
	}
	q := &Partial{p: p, plans: make([]cel.Program, len(p.rules)), errs: make([]error, len(p.rules))}
	for i := range p.rules {
		c := &p.rules[i]
		if c.asts[0] == nil || !c.rule.enforced() {
			continue
		}
		opts := []cel.ProgramOption{cel.EvalOptions(cel.OptPartialEval, cel.OptTrackState)}
		if c.loops {
			opts = append(opts, cel.CostLimit(p.set.opts.CostLimit), cel.InterruptCheckFrequency(64))
		}
		prg, err := p.env.Program(c.asts[0], opts...)
		if err != nil {
			q.errs[i] = &Error{Rule: c.rule.ID, Tool: p.tool.Name, Err: ErrEval, Msg: err.Error()}
		}
		q.plans[i] = prg
	}
	return q, nil
}

// Residuals is [Program.Residuals] with the plans prepared once.
func (q *Partial) Residuals(ctx context.Context, id *identity.Claims) ([]Residual, error) {
	if q == nil || q.p == nil {
		return nil, &Error{Err: ErrInvalid, Msg: "partial program not built by Program.Partial"}
	}
	p := q.p
	if ctx == nil {
		ctx = context.Background()
	}
	unknown := []*cel.AttributePatternType{cel.AttributePattern(varArgs), cel.AttributePattern(varRequest),
		cel.AttributePattern(varGrant), cel.AttributePattern(varSession), cel.AttributePattern(varHistory)}
	if id == nil {
		unknown = append(unknown, cel.AttributePattern(varIdentity))
	}
	act := &activation{identity: id, tool: p.toolVal}
	vars, err := cel.PartialVars(act, unknown...)
	if err != nil {
		return nil, &Error{Tool: p.tool.Name, Err: ErrEval, Msg: "partial evaluation: " + err.Error()}
	}
	var out []Residual
	for i := range p.rules {
		c := &p.rules[i]
		if !c.rule.enforced() {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, &Error{Tool: p.tool.Name, Err: ErrEval, Msg: "not evaluated: " + err.Error()}
		}
		r, keep := q.residual(ctx, i, vars)
		if keep {
			out = append(out, r)
		}
	}
	return out, nil
}

// residual partially evaluates rule i; keep is false when its condition is
// false whatever the unknowns.
func (q *Partial) residual(ctx context.Context, i int, vars cel.PartialActivation) (r Residual, keep bool) {
	p, c := q.p, &q.p.rules[i]
	r.Rule = cloneRules([]Rule{*c.rule})[0]
	a := c.asts[0]
	switch {
	case q.errs[i] != nil:
		r.Err = q.errs[i]
		return r, true
	case a == nil:
		r.Always = true
		return r, true
	}
	val, det, err := q.plans[i].ContextEval(ctx, vars)
	switch {
	case err == nil && types.IsUnknown(val):
	case err != nil || types.IsError(val):
		r.Err = &Error{Rule: r.Rule.ID, Tool: p.tool.Name, Err: ErrEval, Msg: fmt.Sprint(firstErr(err, val))}
		return r, true
	default:
		b, ok := val.(types.Bool)
		if !ok {
			r.Err = &Error{Rule: r.Rule.ID, Tool: p.tool.Name, Err: ErrEval, Msg: fmt.Sprintf("condition yields %v, not a bool", val.Type())}
			return r, true
		}
		r.Always = bool(b)
		return r, bool(b)
	}
	res, err := p.env.ResidualAst(a, det)
	if err != nil {
		r.Err = &Error{Rule: r.Rule.ID, Tool: p.tool.Name, Err: ErrEval, Msg: "residual: " + err.Error()}
		return r, true
	}
	r.Clauses = clauses(res)
	return r, true
}

// clauses splits a residual condition at its top-level && into clauses.
func clauses(a *cel.Ast) []Clause {
	var conj []ast.Expr
	var split func(e ast.Expr)
	split = func(e ast.Expr) {
		if e.Kind() == ast.CallKind && e.AsCall().FunctionName() == operators.LogicalAnd {
			for _, x := range e.AsCall().Args() {
				split(x)
			}
			return
		}
		conj = append(conj, e)
	}
	split(a.NativeRep().Expr())
	out := make([]Clause, 0, len(conj))
	for _, e := range conj {
		text, err := cel.ExprToString(e, a.NativeRep().SourceInfo())
		if err != nil {
			text = "<unprintable: " + err.Error() + ">"
		}
		out = append(out, Clause{Expr: text, Vars: roots(e)})
	}
	return out
}

// roots lists the top-level variables e reads.
func roots(e ast.Expr) []string {
	var vs []string
	ast.PreOrderVisit(e, ast.NewExprVisitor(func(x ast.Expr) {
		if x.Kind() != ast.IdentKind {
			return
		}
		switch n := x.AsIdent(); n {
		case varIdentity, varArgs, varRequest, varGrant, varTool, varSession, varHistory:
			if !slices.Contains(vs, n) {
				vs = append(vs, n)
			}
		}
	}))
	slices.Sort(vs)
	return vs
}
