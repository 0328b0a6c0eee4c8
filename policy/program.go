package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"

	"github.com/modelguard/modelguard/identity"
)

// Program is a [Set] compiled for one tool: the rules that cover the tool,
// type-checked against its input type. Build it once with [Set.Compile], then call
// [Program.Decide] for every call. A Program is immutable and safe for concurrent
// use.
type Program struct {
	tool    Tool
	version string
	rules   []compiledRule
	toolVal *toolInfo
}

type compiledRule struct {
	rule    *Rule
	ids     []string    // []string{rule.ID}, shared by decisions
	when    cel.Program // nil: always true
	message cel.Program // nil: default message
	loops   bool        // has comprehensions: evaluate with ctx interrupts
}

// Compile type-checks every rule that covers t against t's input type and returns
// the program that decides t's calls. It reports every problem at once, each naming
// file:line:col, the rule and the tool: a misspelled field is an error here, never a
// silent deny at run time.
func (s *Set) Compile(t Tool) (*Program, error) {
	if t.Name == "" {
		return nil, &Error{Err: ErrInvalid, Msg: "tool has no name"}
	}
	env, err := argsEnv(s.env, t.Input)
	if err != nil {
		return nil, &Error{Tool: t.Name, Err: ErrType, Msg: fmt.Sprintf("input type %v: %v", t.Input, err)}
	}
	p := &Program{tool: t, version: s.version}
	p.toolVal = &toolInfo{Name: t.Name, Labels: slices.Clone(t.Labels)}
	var errs []error
	for i := range s.rules {
		r := &s.rules[i]
		if !r.Covers(t.Name, t.Labels) {
			continue
		}
		c, cerrs := s.compileRule(env, r, t.Name)
		errs = append(errs, cerrs...)
		p.rules = append(p.rules, c)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

func (s *Set) compileRule(env *cel.Env, r *Rule, tool string) (compiledRule, []error) {
	c := compiledRule{rule: r, ids: []string{r.ID}}
	whenAst, errs := compileExpr(env, s.opts, r, tool, r.When, r.WhenPos, cel.BoolType)
	msgAst, msgErrs := compileExpr(env, s.opts, r, tool, r.Message, r.MessagePos, cel.StringType)
	errs = append(errs, msgErrs...)
	if len(errs) > 0 {
		return c, errs
	}
	c.loops = hasComprehension(whenAst) || hasComprehension(msgAst)
	var err error
	if c.when, err = s.program(env, whenAst, c.loops); err != nil {
		return c, []error{&Error{Pos: r.WhenPos, Rule: r.ID, Tool: tool, Err: ErrType, Msg: err.Error()}}
	}
	if c.message, err = s.program(env, msgAst, c.loops); err != nil {
		return c, []error{&Error{Pos: r.MessagePos, Rule: r.ID, Tool: tool, Err: ErrType, Msg: err.Error()}}
	}
	return c, nil
}

// program plans a checked expression. Only expressions with comprehensions get a
// runtime cost limit and ctx interrupts: without loops, evaluation is linear in
// the size of its inputs, which are bounded before evaluation, and the tracker
// would cost more than the expression.
func (s *Set) program(env *cel.Env, a *cel.Ast, loops bool) (cel.Program, error) {
	if a == nil {
		return nil, nil
	}
	opts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
	if loops {
		opts = append(opts, cel.CostLimit(s.opts.CostLimit), cel.InterruptCheckFrequency(64))
	}
	return env.Program(a, opts...)
}

func hasComprehension(a *cel.Ast) bool {
	if a == nil {
		return false
	}
	found := false
	ast.PreOrderVisit(a.NativeRep().Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if e.Kind() == ast.ComprehensionKind {
			found = true
		}
	}))
	return found
}

// Tool returns the tool the program was compiled for.
func (p *Program) Tool() Tool { return p.tool }

// Version returns the version of the [Set] the program was compiled from.
func (p *Program) Version() string { return p.version }

// Input is one call to decide.
type Input struct {
	// Identity is the verified identity of the caller. Nil denies.
	Identity *identity.Claims
	// Args is the tool's input: a value of the Tool's Input type (or a pointer to
	// one).
	Args    any
	Request Request
}

// Decision is the outcome of [Program.Decide]. Its slices may be shared with the
// program and with other decisions: treat them as read-only.
type Decision struct {
	// Allowed is true only if a permit rule matched and no forbid rule did.
	Allowed bool
	// Rules are the ids of the rules that decided: the matching forbid rules (and
	// rules that failed to evaluate) of a denial, or the matching permit rules of an
	// allow. Empty for a denial because nothing permits.
	Rules []string
	// Reasons are the messages of the deciding rules, or why nothing decided.
	Reasons []string
	// Controls are the control tags of the deciding rules, without duplicates.
	Controls []string
	// Errors are the evaluation failures, each an *Error wrapping ErrEval.
	Errors []error
	// Version is the policy version that decided.
	Version string
}

// Decide evaluates every rule that covers the tool against in and combines them:
// deny unless some permit matches; any matching forbid wins; a rule that fails to
// evaluate (error, non-bool result, cost limit, cancelled ctx) counts as a matching
// forbid. Every rule is evaluated so that the decision lists all that decided.
func (p *Program) Decide(ctx context.Context, in Input) Decision {
	d := Decision{Version: p.version}
	if in.Identity == nil {
		d.Reasons = []string{"no verified identity"}
		return d
	}
	if err := ctx.Err(); err != nil {
		d.Errors = []error{&Error{Tool: p.tool.Name, Err: ErrEval, Msg: "not evaluated: " + err.Error()}}
		d.Reasons = []string{"policy evaluation cancelled"}
		return d
	}
	act := activations.Get().(*activation)
	*act = activation{identity: in.Identity, tool: p.toolVal, args: in.Args, request: in.Request}
	defer func() {
		*act = activation{}
		activations.Put(act)
	}()
	var buf [8]*compiledRule
	permits, forbids := buf[:0:4], buf[4:4:8]
	for i := range p.rules {
		c := &p.rules[i]
		match, err := c.eval(ctx, act)
		if err != nil {
			d.Errors = append(d.Errors, &Error{Pos: c.rule.WhenPos, Rule: c.rule.ID, Tool: p.tool.Name, Err: ErrEval, Msg: err.Error()})
			forbids = append(forbids, c)
			continue
		}
		if !match {
			continue
		}
		if c.rule.Effect == Forbid {
			forbids = append(forbids, c)
		} else {
			permits = append(permits, c)
		}
	}
	switch {
	case len(forbids) > 0:
		p.explain(ctx, &d, act, forbids, true)
	case len(permits) > 0:
		d.Allowed = true
		p.explain(ctx, &d, act, permits, false)
	default:
		d.Reasons = []string{"no rule permits " + p.tool.Name}
	}
	return d
}

// explain fills in the rules, reasons and controls of the deciding rules. Permit
// rules without a message add no reason: an allow needs no apology.
func (p *Program) explain(ctx context.Context, d *Decision, act *activation, rules []*compiledRule, deny bool) {
	if len(rules) == 1 {
		// The common case shares the rule's read-only slices.
		c := rules[0]
		d.Rules, d.Controls = c.ids, c.rule.Controls
		if msg, ok := c.reason(ctx, act, deny); ok {
			d.Reasons = []string{msg}
		}
		return
	}
	d.Rules = make([]string, len(rules))
	for i, c := range rules {
		d.Rules[i] = c.rule.ID
		for _, ctl := range c.rule.Controls {
			if !slices.Contains(d.Controls, ctl) {
				d.Controls = append(d.Controls, ctl)
			}
		}
		if msg, ok := c.reason(ctx, act, deny); ok {
			d.Reasons = append(d.Reasons, msg)
		}
	}
}

func (c *compiledRule) eval(ctx context.Context, act *activation) (bool, error) {
	if c.when == nil {
		return true, nil
	}
	out, err := c.run(ctx, c.when, act)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("when yielded %s, not bool", out.Type().TypeName())
	}
	return bool(b), nil
}

func (c *compiledRule) reason(ctx context.Context, act *activation, deny bool) (string, bool) {
	if c.message == nil {
		if !deny {
			return "", false
		}
		return "forbidden by rule " + c.rule.ID, true
	}
	out, err := c.run(ctx, c.message, act)
	if s, ok := out.(types.String); err == nil && ok {
		return string(s), true
	}
	return fmt.Sprintf("rule %s (message failed: %v)", c.rule.ID, err), true
}

func (c *compiledRule) run(ctx context.Context, prg cel.Program, act *activation) (ref.Val, error) {
	var out ref.Val
	var err error
	if c.loops {
		out, _, err = prg.ContextEval(ctx, act)
	} else {
		out, _, err = prg.Eval(act)
	}
	if err == nil && types.IsError(out) {
		err = out.(*types.Err)
	}
	return out, err
}

// activation resolves the four CEL variables without allocating a map. It hands
// CEL the Go values themselves: checked field selections read them through the
// native type's field getters, which is cheaper than adapting them up front.
type activation struct {
	identity *identity.Claims
	tool     *toolInfo
	args     any
	request  Request
}

// activations recycles activations: Decide is the hot path, and nothing CEL
// returns refers to the activation once Eval is done.
var activations = sync.Pool{New: func() any { return new(activation) }}

func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case varIdentity:
		return a.identity, true
	case varTool:
		return a.tool, true
	case varArgs:
		return a.args, true
	case varRequest:
		return &a.request, true
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }
