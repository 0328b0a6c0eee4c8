package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
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
	set     *Set
	env     *cel.Env
	tool    Tool
	version string
	rules   []compiledRule
	toolVal *toolInfo
	partial partial     // for MayAllow
	cons    constraints // for Check
	// noPermit is the operator's reason when no rule permits a call: which
	// enforced permit rules cover the tool (their conditions were false), or
	// that none does. Built once here, not per call.
	noPermit []string
	// extra holds the add_labels of the rules that have them; reads and
	// shadowReads which histories the enforced and shadow rules read.
	extra              map[*Rule]*ruleExtra
	reads, shadowReads Reads
	// eq indexes rules on an equality with a claim (see index.go); plain
	// are the rules it does not index. Both empty: evaluate every rule.
	eq    []eqIndex
	plain []int32
}

type compiledRule struct {
	rule    *Rule
	ids     []string    // []string{rule.ID}, shared by decisions
	when    cel.Program // nil: always true
	message cel.Program // nil: no message
	budget  cel.Program // nil: no budget
	fast    fastBool    // nil: when is evaluated by cel-go only
	asts    [3]*cel.Ast // when, message, budget: for Explain
	loops   bool        // has comprehensions: evaluate with ctx interrupts
	extra   *ruleExtra  // add_labels and the histories read; nil if not compiled
}

// Compile type-checks every rule that covers t against t's input type and returns
// the program that decides t's calls. It reports every problem at once, each naming
// file:line:col, the rule and the tool: a misspelled field is an error here, never a
// silent deny at run time.
func (s *Set) Compile(t Tool) (*Program, error) {
	return s.compile(t, compileMode{})
}

// compileMode turns off what Compile does to save work, for the tests and
// benchmarks that hold the programs to the plain ones: unshared compiles
// every rule afresh for the tool, as before rules were shared between tools
// of one shape; unindexed leaves out the equality index.
type compileMode struct{ unshared, unindexed bool }

func (s *Set) compile(t Tool, mode compileMode) (*Program, error) {
	shared := !mode.unshared
	if err := s.Ready(); err != nil {
		return nil, err
	}
	if t.Name == "" {
		return nil, &Error{Err: ErrInvalid, Msg: "tool has no name"}
	}
	sh, cs := s.cache.shape(shapeOf(t), s.env), s
	if !shared {
		sh = &shape{rules: map[int]compiledRule{}}
		sh.env, sh.err = argsEnv(s.env, t.Input)
		u := *s
		u.parses = nil
		cs = &u
	}
	if sh.err != nil {
		return nil, &Error{Tool: t.Name, Err: ErrType, Msg: fmt.Sprintf("input type %v: %v", t.Input, sh.err)}
	}
	p := &Program{set: s, env: sh.env, tool: t, version: s.version}
	p.toolVal = &toolInfo{Name: t.Name, Labels: slices.Clone(t.Labels)}
	var errs []error
	for _, i := range s.index.candidates(t.Name) {
		r := &s.rules[i]
		if !r.Covers(t.Name, t.Labels) {
			continue
		}
		c, ok := s.cache.argsFree[i]
		if !ok || !shared {
			c, ok = sh.rule(i)
		}
		if !ok {
			var cerrs []error
			c, cerrs = cs.compileRule(sh.env, r, t.Name)
			if len(cerrs) == 0 && !c.loops {
				c.fast = compileFast(c.asts[0], t.Input)
			}
			if len(cerrs) == 0 {
				c.extra, cerrs = cs.compileExtra(sh.env, r, t.Name, &c)
			}
			if len(cerrs) == 0 {
				sh.keep(i, c)
			}
			errs = append(errs, cerrs...)
		}
		if t.Output != nil {
			for _, path := range r.Redact {
				if err := CheckOutputPath(t.Output, path); err != nil {
					errs = append(errs, &Error{Pos: r.Pos, Rule: r.ID, Tool: t.Name, Err: ErrType,
						Msg: fmt.Sprintf("redact %q: %v", path, err)})
				}
			}
		}
		p.useExtra(r, c.extra)
		p.rules = append(p.rules, c)
	}
	if err := joinUnique(errs); err != nil {
		return nil, err
	}
	p.noPermit = []string{noPermitReason(t.Name, p.rules)}
	if !mode.unindexed {
		p.buildIndex()
	}
	return p, nil
}

// noPermitReason says why a call that no rule permitted was denied, for the
// operator: "no rule permits repo.read: permit rules repo-read-own (condition
// false)" or "no rule permits repo.read: no permit rule covers it".
func noPermitReason(tool string, rules []compiledRule) string {
	var ids []string
	for i := range rules {
		r := rules[i].rule
		if r.Effect == Permit && r.Mode != Shadow {
			ids = append(ids, r.ID)
		}
	}
	if len(ids) == 0 {
		return "no rule permits " + tool + ": no permit rule covers it"
	}
	return fmt.Sprintf("no rule permits %s: the conditions of the permit rules covering it were false (%s)",
		tool, strings.Join(ids, ", "))
}

func (s *Set) compileRule(env *cel.Env, r *Rule, tool string) (compiledRule, []error) {
	c := compiledRule{rule: r, ids: []string{r.ID}}
	env, inline, errs := s.varsEnv(env, r, tool)
	if len(errs) > 0 {
		return c, errs
	}
	c.asts[0], errs = s.compileExpr(env, r, tool, r.When, r.WhenPos, cel.BoolType, inline)
	var more []error
	c.asts[1], more = s.compileMessage(env, r, tool, inline)
	errs = append(errs, more...)
	if r.Budget != nil {
		c.asts[2], more = s.compileExpr(env, r, tool, r.Budget.Expr, r.Budget.Pos, nil, inline)
		errs = append(errs, more...)
		if len(more) == 0 && !numeric(c.asts[2].OutputType()) {
			errs = append(errs, &Error{Pos: r.Budget.Pos, Rule: r.ID, Tool: tool, Err: ErrType,
				Msg: fmt.Sprintf("budget expression has type %s, want int, uint or double", c.asts[2].OutputType())})
		}
	}
	if len(errs) > 0 {
		return c, errs
	}
	for i, a := range c.asts {
		c.loops = c.loops || hasComprehension(a)
		if err := literalPatterns(a); err != nil {
			pos := [3]Position{r.WhenPos, r.MessagePos, r.Pos}[i]
			if i == 2 && r.Budget != nil {
				pos = r.Budget.Pos
			}
			errs = append(errs, &Error{Pos: pos, Rule: r.ID, Tool: tool, Err: ErrType, Msg: err.Error()})
		}
	}
	if len(errs) > 0 {
		return c, errs
	}
	progs := [3]*cel.Program{&c.when, &c.message, &c.budget}
	for i, a := range c.asts {
		prg, err := s.program(env, a, c.loops, false)
		if err != nil {
			return c, []error{&Error{Pos: r.Pos, Rule: r.ID, Tool: tool, Err: ErrType, Msg: err.Error()}}
		}
		*progs[i] = prg
	}
	return c, nil
}

func numeric(t *cel.Type) bool {
	return t.IsExactType(cel.IntType) || t.IsExactType(cel.UintType) || t.IsExactType(cel.DoubleType) || t.IsExactType(cel.DynType)
}

// program plans a checked expression. Only expressions with comprehensions get a
// runtime cost limit and ctx interrupts: without loops, evaluation is linear in
// the size of its inputs, which are bounded before evaluation, and the tracker
// would cost more than the expression. trace keeps every sub-expression's value,
// for Explain.
func (s *Set) program(env *cel.Env, a *cel.Ast, loops, trace bool) (cel.Program, error) {
	if a == nil {
		return nil, nil
	}
	opts := []cel.ProgramOption{cel.EvalOptions(cel.OptOptimize)}
	if trace {
		opts = []cel.ProgramOption{cel.EvalOptions(cel.OptExhaustiveEval)}
	}
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

// literalPatterns refuses a regular expression that is not a string literal.
// Without loops, an expression's cost is linear in its (bounded) inputs, but
// matches() with a pattern taken from the arguments or the identity compiles
// that pattern on every call and runs in the product of both sizes: a rule
// args.s.matches(args.t) took seconds on 40 KB. A literal is compiled once,
// when the rule is, and RE2 matches it in time linear in the input.
func literalPatterns(a *cel.Ast) error {
	if a == nil {
		return nil
	}
	var err error
	ast.PreOrderVisit(a.NativeRep().Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if err != nil || e.Kind() != ast.CallKind || e.AsCall().FunctionName() != "matches" {
			return
		}
		args := e.AsCall().Args()
		if len(args) == 0 || args[len(args)-1].Kind() != ast.LiteralKind {
			err = errors.New("matches() takes its pattern as a string literal only: a pattern from arguments, identity or history would be compiled on every call, at a cost in the product of both sizes")
		}
	}))
	return err
}

// built reports whether p was built by [Set.Compile]: a zero or nil Program
// is an error (and a deny), never a panic.
func (p *Program) built() error {
	if p == nil || p.set == nil || p.env == nil {
		return &Error{Err: ErrEval, Msg: "program not built by Set.Compile"}
	}
	return nil
}

// Tool returns the tool the program was compiled for.
func (p *Program) Tool() Tool {
	if p == nil {
		return Tool{}
	}
	return p.tool
}

// Version returns the version of the [Set] the program was compiled from.
func (p *Program) Version() string {
	if p == nil {
		return ""
	}
	return p.version
}

// Set returns the set the program was compiled from.
func (p *Program) Set() *Set {
	if p == nil {
		return nil
	}
	return p.set
}

// Input is one call to decide.
type Input struct {
	// Identity is the verified identity of the caller. Nil denies.
	Identity *identity.Claims
	// Args is the tool's input: a value of the Tool's Input type (or a pointer to
	// one).
	Args    any
	Request Request
	// Grant is the verified approval grant the call carries, if any.
	Grant *Grant
	// Session and Principal are the histories of the call's session and of its
	// principal, the CEL variables session and history (see [History]). A rule
	// that names one that is nil fails, and so denies. [Program.Reads] says
	// whether the program needs them.
	Session, Principal *History
}

// Decision is the outcome of [Program.Decide]. Its slices may be shared with the
// program and with other decisions: treat them as read-only.
type Decision struct {
	// Allowed is true only if an enforced permit rule matched and no enforced
	// forbid rule did.
	Allowed bool
	// Rules are the ids of the enforced rules that decided: the matching forbid
	// rules (and rules that failed to evaluate) of a denial, or the matching permit
	// rules of an allow. Empty for a denial because nothing permits.
	Rules []string
	// Messages are the messages of the deciding rules that define one. They are
	// safe to show to the model: they name no rule and no other tool.
	Messages []string
	// Reasons explain a denial in full, for the audit log and the operator.
	Reasons []string
	// Controls are the control tags of the deciding rules, without duplicates.
	Controls []string
	// Obligations are what an allow asks the guard to enforce.
	Obligations Obligations
	// Errors are the evaluation failures, each an *Error wrapping ErrEval.
	Errors []error
	// Shadow lists the shadow rules that matched or failed; they did not decide.
	Shadow []ShadowResult
	// ShadowAllowed is what Allowed would be if shadow rules were enforced.
	ShadowAllowed bool
	// Scopes, on a denial because no rule permits, are the scopes of an
	// enforced permit rule whose condition held but whose scopes
	// ([Rule.Scopes]) the identity lacks: every scope that rule needs, so a
	// token with them would be permitted by it. Of several such rules, the one
	// missing the fewest scopes (the first, on a tie). Empty otherwise.
	Scopes []string
	// Version is the policy version that decided.
	Version string
}

// WouldFlip reports whether enforcing the shadow rules would change the decision.
func (d *Decision) WouldFlip() bool {
	if d == nil {
		return false
	}
	return d.ShadowAllowed != d.Allowed
}

// ShadowResult is what a shadow rule would have done.
type ShadowResult struct {
	Rule   string
	Effect Effect
	Error  error // non-nil if it failed to evaluate (it would have forbidden)
}

// tally collects what the shadow rules did while deciding.
type tally struct {
	shadowPermit, shadowForbid bool
}

// Decide evaluates every rule that covers the tool against in and combines the
// enforced ones: deny unless some permit matches; any matching forbid wins; a rule
// that fails to evaluate (error, non-bool result, cost limit, cancelled ctx) counts
// as a matching forbid. Every rule is evaluated, so the decision lists all that
// decided, and what the shadow rules would have done.
func (p *Program) Decide(ctx context.Context, in Input) Decision {
	if err := p.built(); err != nil {
		return Decision{Reasons: []string{err.Error()}, Errors: []error{err}}
	}
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
	*act = activation{identity: in.Identity, tool: p.toolVal, args: in.Args, request: in.Request, grant: in.Grant,
		session: in.Session, history: in.Principal}
	defer func() {
		*act = activation{}
		activations.Put(act)
	}()
	var buf [8]*compiledRule // stays on the stack: only Decide appends to it
	permits, forbids := buf[:0:4], buf[4:4:8]
	var t tally
	var ibuf [16]int32
	idx, indexed := p.candidates(act, ibuf[:0])
	n := len(p.rules)
	if indexed {
		n = len(idx)
	}
	for k := range n {
		i := k
		if indexed {
			i = int(idx[k])
		}
		c := &p.rules[i]
		switch p.evalRule(ctx, &d, &t, c, act) {
		case Permit:
			permits = append(permits, c)
		case Forbid:
			forbids = append(forbids, c)
		}
	}
	shadowAllowed := !(len(forbids) > 0 || t.shadowForbid) && (len(permits) > 0 || t.shadowPermit)
	switch {
	case len(forbids) > 0:
		p.explain(ctx, &d, act, forbids, true)
	case len(permits) > 0:
		d.Allowed = true
		p.explain(ctx, &d, act, permits, false)
		p.oblige(ctx, &d, act, permits)
		shadowAllowed = shadowAllowed && d.Allowed // a failed budget denies both
	default:
		d.Reasons = p.noPermit
		if len(d.Scopes) > 0 {
			d.Reasons = append(slices.Clip(d.Reasons), "step-up: a permit rule needs the scopes "+strings.Join(d.Scopes, " "))
		}
	}
	if d.Allowed || len(forbids) > 0 {
		d.Scopes = nil // a new token would change nothing
	}
	d.ShadowAllowed = shadowAllowed
	if len(d.Shadow) == 0 {
		d.ShadowAllowed = d.Allowed
	}
	return d
}

// evalRule evaluates one rule and returns the effect it has on the decision:
// Permit or Forbid when it is an enforced rule that matched (a rule that fails
// counts as Forbid), "" otherwise. Shadow rules are noted in d and t.
func (p *Program) evalRule(ctx context.Context, d *Decision, t *tally, c *compiledRule, act *activation) Effect {
	match, err := c.eval(ctx, act)
	if err != nil {
		err = &Error{Pos: c.rule.WhenPos, Rule: c.rule.ID, Tool: p.tool.Name, Err: ErrEval, Msg: err.Error()}
		match = true
	}
	if !match {
		return ""
	}
	if err == nil && c.rule.Effect == Permit && !holdsScopes(act.identity, c.rule.Scopes) {
		if c.rule.enforced() {
			stepUp(d, act.identity, c.rule.Scopes)
		}
		return ""
	}
	forbid := err != nil || c.rule.Effect == Forbid
	if !c.rule.enforced() {
		d.Shadow = append(d.Shadow, ShadowResult{Rule: c.rule.ID, Effect: c.rule.Effect, Error: err})
		t.shadowForbid = t.shadowForbid || forbid
		t.shadowPermit = t.shadowPermit || !forbid
		return ""
	}
	if err != nil {
		d.Errors = append(d.Errors, err)
	}
	if forbid {
		return Forbid
	}
	return Permit
}

// holdsScopes reports whether c holds every one of scopes.
func holdsScopes(c *identity.Claims, scopes []string) bool {
	for _, s := range scopes {
		if c == nil || !slices.Contains(c.Scopes, s) {
			return false
		}
	}
	return true
}

// stepUp keeps in d the scopes of the permit rule missing the fewest of them.
func stepUp(d *Decision, c *identity.Claims, scopes []string) {
	if len(d.Scopes) == 0 || missing(c, scopes) < missing(c, d.Scopes) {
		d.Scopes = scopes
	}
}

func missing(c *identity.Claims, scopes []string) int {
	n := 0
	for _, s := range scopes {
		if !slices.Contains(c.Scopes, s) {
			n++
		}
	}
	return n
}

// explain fills in the rules, messages, reasons and controls of the deciding
// rules. An allow gets no reasons: its rules say enough.
func (p *Program) explain(ctx context.Context, d *Decision, act *activation, rules []*compiledRule, deny bool) {
	if len(rules) == 1 {
		// The common case shares the rule's read-only slices.
		d.Rules, d.Controls = rules[0].ids, rules[0].rule.Controls
	} else {
		d.Rules = make([]string, len(rules))
		for i, c := range rules {
			d.Rules[i] = c.rule.ID
			for _, ctl := range c.rule.Controls {
				if !slices.Contains(d.Controls, ctl) {
					d.Controls = append(d.Controls, ctl)
				}
			}
		}
	}
	for _, c := range rules {
		msg, ok := c.messageText(ctx, act)
		if ok {
			d.Messages = append(d.Messages, msg)
		}
		if deny {
			d.Reasons = append(d.Reasons, p.reason(d, c, msg))
		}
	}
}

func (p *Program) reason(d *Decision, c *compiledRule, msg string) string {
	for _, err := range d.Errors {
		if e, ok := err.(*Error); ok && e.Rule == c.rule.ID {
			return "rule " + c.rule.ID + " failed to evaluate: " + e.Msg
		}
	}
	if msg == "" {
		return "forbid rule " + c.rule.ID + " matched"
	}
	return "forbid rule " + c.rule.ID + " matched: " + msg
}

// oblige collects the obligations of the permits that allowed the call, and
// evaluates their budget amounts. A budget that cannot be evaluated denies.
func (p *Program) oblige(ctx context.Context, d *Decision, act *activation, permits []*compiledRule) {
	o := &d.Obligations
	for _, c := range permits {
		r := c.rule
		o.Approval = o.Approval || slices.Contains(r.Require, RequireApproval)
		for _, path := range r.Redact {
			if !slices.Contains(o.Redact, path) {
				o.Redact = append(o.Redact, path)
			}
		}
		if r.Limit != nil {
			o.Limits = append(o.Limits, RuleLimit{Rule: r.ID, Limit: *r.Limit})
		}
		if x := p.extra[r]; len(r.AddLabels) > 0 && x != nil {
			if err := x.addLabels(ctx, o, act, c); err != nil {
				p.obligationFailed(d, r, "add_labels", err)
				return
			}
		}
		if r.Budget != nil {
			amount, err := c.amount(ctx, act)
			if err != nil {
				p.obligationFailed(d, r, "budget", err)
				return
			}
			o.Budgets = append(o.Budgets, RuleBudget{Rule: r.ID, Budget: *r.Budget, Amount: amount})
		}
	}
}

// obligationFailed denies: an obligation that cannot be evaluated (a budget
// amount, a label) cannot be enforced.
func (p *Program) obligationFailed(d *Decision, r *Rule, what string, err error) {
	pos := r.Pos
	if what == "budget" {
		pos = r.Budget.Pos
	}
	d.Allowed = false
	d.Errors = append(d.Errors, &Error{Pos: pos, Rule: r.ID, Tool: p.tool.Name, Err: ErrEval, Msg: what + ": " + err.Error()})
	d.Reasons = append(d.Reasons, "rule "+r.ID+" "+what+" failed to evaluate: "+err.Error())
	d.Obligations = Obligations{}
}

func (c *compiledRule) eval(ctx context.Context, act *activation) (bool, error) {
	if c.when == nil {
		return true, nil
	}
	if c.fast != nil {
		if v, ok := c.fast(act); ok {
			return v, nil
		}
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

// messageText evaluates the rule's message, if it has one. A message that fails
// falls back to a fixed text that names nothing.
func (c *compiledRule) messageText(ctx context.Context, act *activation) (string, bool) {
	if c.message == nil {
		return "", false
	}
	out, err := c.run(ctx, c.message, act)
	if s, ok := out.(types.String); err == nil && ok {
		return string(s), true
	}
	return "denied by policy", true
}

func (c *compiledRule) amount(ctx context.Context, act *activation) (float64, error) {
	out, err := c.run(ctx, c.budget, act)
	if err != nil {
		return 0, err
	}
	switch v := out.(type) {
	case types.Int:
		return float64(v), nil
	case types.Uint:
		return float64(v), nil
	case types.Double:
		return float64(v), nil
	}
	return 0, fmt.Errorf("budget expression yielded %s, not a number", out.Type().TypeName())
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
	if err != nil && errors.Is(err, context.Canceled) {
		err = fmt.Errorf("cancelled: %w", err)
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
	grant    *Grant
	session  *History
	history  *History
}

// noGrant is what grant resolves to when a call carries none.
var noGrant = &Grant{}

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
	case varGrant:
		if a.grant == nil {
			return noGrant, true
		}
		return a.grant, true
	case varSession:
		return a.session, a.session != nil
	case varHistory:
		return a.history, a.history != nil
	}
	return nil, false
}

func (a *activation) Parent() interpreter.Activation { return nil }
