package policy

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/cost"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"

	"github.com/modelguard/modelguard/identity"
)

// Request is what policy sees of the call beyond identity and arguments, as the
// CEL variable request (request.time, request.session, …).
type Request struct {
	Time      time.Time `cel:"time"`
	SessionID string    `cel:"session"`
	PromptID  string    `cel:"prompt"`
	TraceID   string    `cel:"trace"`
	CallID    string    `cel:"call"`
	// Secrets are the names of the secrets the tool declared it needs.
	Secrets []string `cel:"secrets"`
}

// Grant is what policy sees of a human approval grant, as the CEL variable grant.
// grant.present is false when the call carries no valid grant; rules can then
// permit more while a grant is present ("temporary elevation").
type Grant struct {
	Present  bool           `cel:"present"`
	ID       string         `cel:"id"`
	Approver string         `cel:"approver"`
	Tools    []string       `cel:"tools"`
	Expiry   time.Time      `cel:"exp"`
	Claims   map[string]any `cel:"claims"`
}

// Tool describes a tool to [Set.Compile]: its name, its labels, and the Go type of
// its input. Input may be nil (args is then dynamic and unchecked), a struct or a
// pointer to one (args has its fields, named as in their JSON tags), or a map with
// string keys. Output, when set, is the Go type of the tool's output: every
// redact path of a rule covering the tool must be one its JSON form can hold
// (see [CheckOutputPath]), or Compile fails naming the rule.
type Tool struct {
	Name   string
	Labels []string
	Input  reflect.Type
	Output reflect.Type
}

// toolInfo is the CEL variable tool.
type toolInfo struct {
	Name   string   `cel:"name"`
	Labels []string `cel:"labels"`
}

// The CEL variable names. They are the whole vocabulary a rule may use.
const (
	varIdentity = "identity"
	varTool     = "tool"
	varArgs     = "args"
	varRequest  = "request"
	varGrant    = "grant"
	varSession  = "session" // see history.go
	varHistory  = "history"
)

func baseEnv(opts Options) (*cel.Env, error) {
	celTag := types.ParseStructTag("cel")
	return cel.NewEnv(
		ext.NativeTypes(
			types.NativeTypeFor[identity.Claims](celTag, types.NativeTypeAlias("modelguard.Identity")),
			types.NativeTypeFor[Request](celTag, types.NativeTypeAlias("modelguard.Request")),
			types.NativeTypeFor[toolInfo](celTag, types.NativeTypeAlias("modelguard.Tool")),
			types.NativeTypeFor[Grant](celTag, types.NativeTypeAlias("modelguard.Grant")),
			types.NativeTypeFor[History](celTag, types.NativeTypeAlias(historyType)),
		),
		cel.Variable(varSession, cel.ObjectType(historyType)),
		cel.Variable(varHistory, cel.ObjectType(historyType)),
		cel.Lib(historyLib{}),
		cel.Variable(varGrant, cel.ObjectType("modelguard.Grant")),
		cel.Variable(varIdentity, cel.ObjectType("modelguard.Identity")),
		cel.Variable(varTool, cel.ObjectType("modelguard.Tool")),
		cel.Variable(varRequest, cel.ObjectType("modelguard.Request")),
		ext.Strings(),
		cel.CrossTypeNumericComparisons(true),
		cel.ParserRecursionLimit(opts.MaxNesting),
		cel.ParserExpressionSizeLimit(opts.MaxExpressionSize),
	)
}

// argsEnv extends base with the variable args typed from in (dyn when in is nil or
// not a type CEL can check).
func argsEnv(base *cel.Env, in reflect.Type) (*cel.Env, error) {
	t, opt := argsType(in)
	opts := []cel.EnvOption{cel.Variable(varArgs, t)}
	if opt != nil {
		opts = append([]cel.EnvOption{opt}, opts...)
	}
	return base.Extend(opts...)
}

func argsType(in reflect.Type) (*cel.Type, cel.EnvOption) {
	if in == nil {
		return cel.DynType, nil
	}
	s := in
	if s.Kind() == reflect.Pointer {
		s = s.Elem()
	}
	switch {
	case s.Kind() == reflect.Struct && s.Name() != "":
		name := s.PkgPath()[strings.LastIndex(s.PkgPath(), "/")+1:] + "." + s.Name()
		return cel.ObjectType(name), ext.NativeTypes(in, ext.ParseStructTag("json"))
	case s.Kind() == reflect.Map && s.Key().Kind() == reflect.String:
		return cel.MapType(cel.StringType, cel.DynType), nil
	default:
		return cel.DynType, nil
	}
}

// compileExpr parses and checks one expression of r. An empty expression compiles
// to nil. want, when not nil, is the required result type (dyn is accepted and
// checked at run time). inline, when not nil, inlines the rule's variables. Errors
// carry the position of the offending text in its file.
func (s *Set) compileExpr(env *cel.Env, r *Rule, tool, expr string, pos Position, want *cel.Type, inline *cel.StaticOptimizer) (*cel.Ast, []error) {
	if expr == "" {
		return nil, nil
	}
	parsed, iss := s.parses.parse(env, expr)
	if iss.Err() != nil {
		return nil, celErrors(iss, ErrSyntax, r, tool, pos)
	}
	ast, iss := env.Check(parsed)
	if iss.Err() != nil {
		return nil, celErrors(iss, ErrType, r, tool, pos)
	}
	return s.finishExpr(env, ast, r, tool, pos, want, inline)
}

// compileMessage compiles a rule's message: a message is CEL when it parses
// as CEL and every name it starts from is declared (identity, args, request,
// …): "'blocked for ' + identity.sub". Anything else — text that does not
// parse ("path traversal is not allowed") or a bare word that names no
// variable ("denied") — is plain text, compiled as a string literal. A message
// that is CEL but wrong (a missing field, a wrong type) stays an error.
func (s *Set) compileMessage(env *cel.Env, r *Rule, tool string, inline *cel.StaticOptimizer) (*cel.Ast, []error) {
	return s.compileText(env, r, tool, r.Message, r.MessagePos, cel.StringType, inline)
}

// compileText compiles msg as a message is compiled: CEL, or plain text when
// it is not CEL (see [Set.compileMessage]).
func (s *Set) compileText(env *cel.Env, r *Rule, tool, msg string, pos Position, want *cel.Type, inline *cel.StaticOptimizer) (*cel.Ast, []error) {
	if msg == "" {
		return nil, nil
	}
	text := func() (*cel.Ast, []error) {
		return s.compileExpr(env, r, tool, strconv.Quote(msg), pos, want, inline)
	}
	parsed, iss := s.parses.parse(env, msg)
	if iss.Err() != nil {
		return text()
	}
	ast, iss := env.Check(parsed)
	if iss.Err() != nil {
		for _, e := range iss.Errors() {
			if !strings.HasPrefix(e.Message, "undeclared reference") {
				return nil, celErrors(iss, ErrType, r, tool, pos)
			}
		}
		return text()
	}
	return s.finishExpr(env, ast, r, tool, pos, want, inline)
}

// finishExpr checks a checked expression's type and cost, inlining variables.
func (s *Set) finishExpr(env *cel.Env, ast *cel.Ast, r *Rule, tool string, pos Position, want *cel.Type, inline *cel.StaticOptimizer) (*cel.Ast, []error) {
	if want != nil && !ast.OutputType().IsExactType(want) && !ast.OutputType().IsExactType(cel.DynType) {
		return nil, []error{&Error{Pos: pos, Rule: r.ID, Tool: tool, Err: ErrType,
			Msg: fmt.Sprintf("expression has type %s, want %s", ast.OutputType(), want)}}
	}
	var iss *cel.Issues
	if inline != nil {
		if ast, iss = inline.Optimize(env, ast); iss.Err() != nil {
			return nil, celErrors(iss, ErrType, r, tool, pos)
		}
	}
	est, err := env.EstimateCost(ast, sizeHints(s.opts.SizeHint))
	if err != nil {
		return nil, []error{&Error{Pos: pos, Rule: r.ID, Tool: tool, Err: ErrCost, Msg: err.Error()}}
	}
	if est.Max > s.opts.CostBudget {
		return nil, []error{&Error{Pos: pos, Rule: r.ID, Tool: tool, Err: ErrCost,
			Msg: fmt.Sprintf("estimated cost up to %d exceeds the budget of %d", est.Max, s.opts.CostBudget)}}
	}
	return ast, nil
}

// varsEnv declares r's variables (variables.NAME, each typed by its own
// expression, each able to use the ones before it) and returns the extended env
// and an optimizer that inlines them.
func (s *Set) varsEnv(env *cel.Env, r *Rule, tool string) (*cel.Env, *cel.StaticOptimizer, []error) {
	if len(r.Variables) == 0 {
		return env, nil, nil
	}
	var inlined []*cel.InlineVariable
	var opt *cel.StaticOptimizer
	for _, v := range r.Variables {
		vr := &Rule{ID: ""} // variable errors belong to the variable, not each rule
		ast, errs := s.compileExpr(env, vr, tool, v.Expr, v.Pos, nil, opt)
		if len(errs) > 0 {
			for _, e := range errs {
				e.(*Error).Msg = "variable " + v.Name + ": " + e.(*Error).Msg
			}
			return nil, nil, errs
		}
		name := "variables." + v.Name
		inlined = append(inlined, cel.NewInlineVariable(name, ast))
		var err error
		if env, err = env.Extend(cel.Variable(name, ast.OutputType())); err != nil {
			return nil, nil, []error{&Error{Pos: v.Pos, Tool: tool, Err: ErrType, Msg: "variable " + v.Name + ": " + err.Error()}}
		}
		if opt, err = cel.NewStaticOptimizer(cel.NewInliningOptimizer(inlined...)); err != nil {
			return nil, nil, []error{&Error{Pos: v.Pos, Tool: tool, Err: ErrType, Msg: err.Error()}}
		}
	}
	return env, opt, nil
}

// celErrors turns CEL issues into Errors positioned in the policy file. CEL lines
// count from 1 and columns from 0 within the expression.
func celErrors(iss *cel.Issues, sentinel error, r *Rule, tool string, pos Position) []error {
	var errs []error
	for _, e := range iss.Errors() {
		p := pos
		if p.Line > 0 {
			line, col := e.Location.Line(), e.Location.Column()
			if line > 1 {
				p.Line += line - 1
				p.Col = 1
			}
			p.Col += col
		}
		errs = append(errs, &Error{Pos: p, Rule: r.ID, Tool: tool, Err: sentinel, Msg: e.Message})
	}
	return errs
}

// sizeHints is a cost estimator that assumes every string, bytes, list and map, and
// every value of dynamic type, is at most n long.
type sizeHints uint64

func (n sizeHints) EstimateSize(node cost.AstNode) *cost.SizeEstimate {
	switch node.Type().Kind() {
	case types.StringKind, types.BytesKind, types.ListKind, types.MapKind, types.DynKind, types.AnyKind:
		return &cost.SizeEstimate{Min: 0, Max: uint64(n)}
	}
	return nil
}

func (sizeHints) EstimateCallCost(string, string, *cost.AstNode, []cost.AstNode) *cost.CallEstimate {
	return nil
}
