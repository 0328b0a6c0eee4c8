package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
)

// Tool names a tool and its labels. Rules cover tools by name (or glob) and by
// label.
type Tool struct {
	Name   string
	Labels []string
	// Description tells a model what the tool does (MCP, OpenAI and Anthropic
	// tool definitions carry it).
	Description string
	// OutputLabels are the labels the tool's output carries ("private",
	// "untrusted", "customer_pii"), recorded in the call's session before the
	// output reaches the model (see Options.Sessions).
	OutputLabels []string
	// Secrets names the secrets the tool needs. Policy sees the names
	// (request.secrets); the values are fetched from Options.Secrets only after
	// the call is allowed, reach the tool only through its ctx
	// ([SecretFromContext]), and are scrubbed from its output and error.
	Secrets []string
}

// Func is the shape of a tool: the same signature before and after guarding.
type Func[In, Out any] func(ctx context.Context, in In) (Out, error)

// Guard is a tool wrapped by an [Enforcer]. Build it once with [NewGuard]; call it
// as often as needed. It is safe for concurrent use.
type Guard[In, Out any] struct {
	e     *Enforcer
	tool  Tool
	idx   int                           // registration index: this guard's program in each generation
	ptrIn bool                          // In is a pointer type
	ref   bool                          // In is a struct: policy gets a pointer to it, not a copy
	utf8  func(reflect.Value, int) bool // nil: In holds no string
	shape argsShape                     // how the arguments are snapshot (see snapshot.go)
	// flatIn and flatOut encode In and Out for their digests when they are
	// flat structs (see flatjson.go); nil: encoding/json.
	flatIn, flatOut *flatJSON
	fn              Func[In, Out]
}

// NewGuard wraps fn. It compiles every rule that covers the tool against In, so a
// rule that names a field In does not have is an error here, at start-up.
func NewGuard[In, Out any](e *Enforcer, t Tool, fn Func[In, Out]) (*Guard[In, Out], error) {
	if err := e.ready(); err != nil {
		return nil, fmt.Errorf("tools: NewGuard(%q): %w", t.Name, err)
	}
	if fn == nil {
		return nil, fmt.Errorf("tools: NewGuard(%q): nil function", t.Name)
	}
	t.Labels, t.Secrets, t.OutputLabels = slices.Clone(t.Labels), slices.Clone(t.Secrets), slices.Clone(t.OutputLabels)
	if len(t.Secrets) > 0 && binaryIn(reflect.TypeFor[Out](), map[reflect.Type]bool{}) {
		return nil, fmt.Errorf("tools: NewGuard(%q): a tool with secrets cannot return binary data ([]byte): "+
			"a secret inside its base64 form could not be scrubbed", t.Name)
	}
	idx, err := e.register(policy.Tool{Name: t.Name, Labels: t.Labels, Input: reflect.TypeFor[In](), Output: reflect.TypeFor[Out]()})
	if err != nil {
		return nil, err
	}
	return &Guard[In, Out]{e: e, tool: t, idx: idx, fn: fn, ptrIn: reflect.TypeFor[In]().Kind() == reflect.Pointer,
		ref:  reflect.TypeFor[In]().Kind() == reflect.Struct,
		utf8: utf8Checker(reflect.TypeFor[In]()), shape: argsPathOf(reflect.TypeFor[In]()),
		flatIn: newFlatJSON(reflect.TypeFor[In]()), flatOut: newFlatJSON(reflect.TypeFor[Out]())}, nil
}

// Wrap is [NewGuard] returning the guarded function itself, so that it drops in
// where fn was.
func Wrap[In, Out any](e *Enforcer, t Tool, fn func(context.Context, In) (Out, error)) (func(context.Context, In) (Out, error), error) {
	g, err := NewGuard(e, t, fn)
	if err != nil {
		return nil, err
	}
	return g.Call, nil
}

// ready reports whether g was built by [NewGuard]: a zero or nil Guard is an
// error, never a panic, and runs nothing.
func (g *Guard[In, Out]) ready() error {
	if g == nil || g.fn == nil || g.e.ready() != nil {
		return fmt.Errorf("tools: Guard: %w (use NewGuard)", ErrNotReady)
	}
	return nil
}

// Tool returns the guarded tool's name and labels.
func (g *Guard[In, Out]) Tool() Tool {
	if g == nil {
		return Tool{}
	}
	return g.tool
}

// Call runs the guarded tool: it verifies the identity token in ctx (see
// [identity.WithToken]), decides with the policy, records the decision, runs the
// tool with the verified claims in its ctx (see [identity.FromContext]), and records
// the outcome. Any failure before the tool runs denies the call with a
// [*DeniedError] and the tool does not run. The tool's own errors are returned
// unchanged; a panic in the tool is recovered and returned as [ErrToolPanic].
func (g *Guard[In, Out]) Call(ctx context.Context, in In) (Out, error) {
	return g.call(ctx, in, false, nil)
}

// call is Call; private says in was decoded by the guard itself (CallJSON), so
// that nothing outside the call refers into it. When js is not nil, it gets the
// output's JSON, the very bytes its recorded digest is of.
func (g *Guard[In, Out]) call(ctx context.Context, in In, private bool, js *[]byte) (Out, error) {
	var zero Out
	if err := g.ready(); err != nil {
		return zero, err
	}
	if ctx == nil {
		ctx = context.Background() // no token in it: denied and recorded, not a panic
	}
	prog := g.e.program(g.idx) // the whole call runs on this policy version
	// From here on in is the snapshot: on the isolating paths a fresh value
	// decoded from the canonical bytes (see snapshot.go).
	c := g.start(ctx, prog, &in, private)
	c.outJSON = js
	if c.argsErr != nil {
		return zero, g.deny(ctx, &c, newDenial(CodeBadArgs, c.argsErr, "arguments rejected", c.argsErr.Error()))
	}
	claims, err := g.e.authenticate(ctx)
	if err != nil {
		msg := "identity token rejected"
		if errors.Is(err, identity.ErrNoToken) {
			msg = "no identity token"
		}
		return zero, g.deny(ctx, &c, newDenial(CodeUnauthenticated, err, msg, err.Error()))
	}
	c.ev.Identity = identityOf(claims)
	if de := g.e.stopped(ctx, claims, g.tool.Name); de != nil {
		return zero, g.deny(ctx, &c, de)
	}
	pin := policy.Input{Identity: claims, Args: g.policyArgs(&in), Request: c.req}
	base, d, cands, why, sde := g.decideInSession(ctx, prog, claims, &c, pin)
	if sde != nil {
		return zero, g.deny(ctx, &c, sde)
	}
	c.decided(d)
	switch {
	case !d.Allowed:
		de := decisionDenial(d)
		if len(why) > 0 { // grants that were presented and did not help: for the operator
			de.Reasons = append(slices.Clip(de.Reasons), why...)
			c.ev.Reasons = de.Reasons
		}
		return zero, g.deny(ctx, &c, de)
	case d.Obligations.Approval && len(cands) == 0:
		return zero, g.deny(ctx, &c, g.requestApproval(ctx, &c, claims, &in, d, why))
	}
	ctl, de := g.applyGranted(ctx, &c, claims, &in, base, cands, why)
	if de != nil {
		return zero, g.deny(ctx, &c, de)
	}
	c.ev.Secrets = g.tool.Secrets
	if err := g.e.sink.Record(c.sinkCtx, c.ev); err != nil {
		ctl.release()
		return zero, auditFailed(g.tool.Name, err)
	}
	// Set the secrets key whenever ctx may carry an outer tool's secrets, so that a
	// guarded tool called from inside another never sees them.
	runCtx := identity.NewContext(ctx, claims)
	if ctl.secrets != nil || ctx.Value(secretsKey{}) != nil {
		runCtx = context.WithValue(runCtx, secretsKey{}, ctl.secrets)
	}
	if err := ctx.Err(); err != nil { // the caller gave up after the decision was recorded
		ctl.release()
		return g.finish(ctx, &c, nil, ctl.secrets, zero, &notRunError{tool: g.tool.Name, cause: err})
	}
	out, runErr := g.run(runCtx, in, func() {
		// The tool called runtime.Goexit: the call's goroutine is ending and no
		// value comes back, but the outcome is recorded on the way out.
		_, _ = g.finish(ctx, &c, nil, ctl.secrets, zero, &panicError{tool: g.tool.Name, value: "runtime.Goexit"})
	})
	return g.finish(ctx, &c, d.Obligations.Redact, ctl.secrets, out, runErr)
}

// isNotRun is a type assertion, not errors.As: finish gets the error as Call
// made it, and errors.As would cost an allocation on every call.
func isNotRun(err error) bool {
	_, ok := err.(*notRunError)
	return ok
}

// notRunError is a call that was allowed and recorded but whose tool did not
// run, because its ctx was done by then. Its outcome record says "denied".
type notRunError struct {
	tool  string
	cause error
}

func (e *notRunError) Error() string {
	return fmt.Sprintf("tools: tool %s not run: %v", e.tool, e.cause)
}

func (e *notRunError) Unwrap() error { return e.cause }

// policyArgs is the arguments as policy takes them: one pointer to the input
// struct, whether In is a struct or a pointer to one; any other type (a map, a
// slice) as it is.
func (g *Guard[In, Out]) policyArgs(in *In) any {
	if g.ref {
		return in
	}
	return *in
}

// call is the state of one guarded call.
type call struct {
	sinkCtx   context.Context // ctx without its cancellation: events are never dropped
	req       policy.Request
	start     time.Time
	ev        audit.Event
	outcomeID string
	args      []byte // the canonical encoding of the arguments, when it was made
	outJSON   *[]byte
	argsErr   error
}

func (g *Guard[In, Out]) start(ctx context.Context, prog *policy.Program, in *In, private bool) call {
	c := g.e.begin(ctx, g.tool.Name)
	c.req.Secrets = g.tool.Secrets
	c.ev.PolicyVersion = prog.Version()
	c.args, c.argsErr = g.snapshotArgs(&c.ev, in, private)
	return c
}

// begin starts the record of a call to tool: its ids, its time and the call
// metadata from ctx. Every decision event, a call to an unknown tool's
// included, is built from it.
func (e *Enforcer) begin(ctx context.Context, tool string) call {
	now := e.now()
	meta, _ := CallFromContext(ctx)
	callID, decisionID, outcomeID := e.nextIDs()
	if meta.ID == "" {
		meta.ID = callID
	}
	c := call{sinkCtx: context.WithoutCancel(ctx), start: now, req: policy.Request{Time: now, SessionID: meta.SessionID,
		PromptID: meta.PromptID, TraceID: meta.TraceID, CallID: meta.ID}}
	c.outcomeID = outcomeID
	c.ev = audit.Event{
		ID: decisionID, Time: now, Phase: audit.PhaseDecision, CallID: meta.ID, Tool: tool,
		SessionID: meta.SessionID, PromptID: meta.PromptID, TraceID: meta.TraceID,
	}
	return c
}

func (c *call) decided(d policy.Decision) {
	c.ev.Decision = audit.Deny
	if d.Allowed {
		c.ev.Decision = audit.Allow
	}
	c.ev.Rules, c.ev.Reasons, c.ev.Controls = d.Rules, d.Reasons, d.Controls
	for _, err := range d.Errors {
		c.ev.Errors = append(c.ev.Errors, err.Error())
	}
	for _, s := range d.Shadow {
		c.ev.Shadow = append(c.ev.Shadow, s.Rule)
	}
	c.ev.WouldFlip = d.WouldFlip()
}

// decisionDenial is the denial of a decision that did not allow the call.
func decisionDenial(d policy.Decision) *DeniedError {
	code := CodeForbidden
	switch {
	case len(d.Errors) > 0:
		code = CodePolicyError
	case len(d.Scopes) > 0:
		code = CodeInsufficientScope
	case len(d.Rules) == 0:
		code = CodeNoPermit
	}
	de := newDenial(code, nil, "", d.Reasons...)
	de.Rules, de.Messages = d.Rules, d.Messages
	if code == CodeInsufficientScope {
		de.Scopes = d.Scopes
		de.Messages = []string{"this call needs a token with the scopes " + strings.Join(d.Scopes, " ")}
	}
	return de
}

// deny records the denied decision and returns de, or an audit failure if the
// record could not be written.
func (g *Guard[In, Out]) deny(ctx context.Context, c *call, de *DeniedError) error {
	return g.e.deny(c, de)
}

// deny records c as denied with de (the event's code is the denial's, its
// error.type is left for errors of the tool) and returns de, or an audit
// failure if the record could not be written.
func (e *Enforcer) deny(c *call, de *DeniedError) error {
	de.Tool = c.ev.Tool
	c.ev.Decision, c.ev.Code, c.ev.Outcome = audit.Deny, string(de.Code), audit.OutcomeDenied
	if c.ev.Reasons == nil {
		c.ev.Reasons = de.Reasons
	}
	if de.Cause != nil {
		c.ev.Error = de.Cause.Error()
	}
	c.ev.RetryAfter = de.RetryAfter
	if de.Rules != nil && c.ev.Rules == nil {
		c.ev.Rules = de.Rules
	}
	if err := e.sink.Record(c.sinkCtx, c.ev); err != nil {
		return auditFailed(c.ev.Tool, err)
	}
	return de
}

func auditFailed(tool string, err error) error {
	de := newDenial(CodeAuditFailed, err, "", "audit record could not be written: "+err.Error())
	de.Tool = tool
	return de
}

// run calls the tool, turning a panic into an error.
func (g *Guard[In, Out]) run(ctx context.Context, in In, onGoexit func()) (out Out, err error) {
	returned := false
	defer func() {
		if r := recover(); r != nil {
			err = &panicError{tool: g.tool.Name, value: fmt.Sprint(r)}
		} else if !returned {
			onGoexit() // neither a return nor a panic: runtime.Goexit
		}
	}()
	out, err = g.fn(ctx, in)
	returned = true
	return out, err
}

// finish redacts the output and scrubs injected secrets from it and from the
// error, then records the outcome. If the output cannot be cleaned, or the
// outcome cannot be recorded, the output is withheld.
func (g *Guard[In, Out]) finish(ctx context.Context, c *call, redact []string, sec *secrets, out Out, runErr error) (Out, error) {
	var zero Out
	ev := c.ev
	ev.ID, ev.Phase, ev.Args = c.outcomeID, audit.PhaseOutcome, nil
	runErr = sec.scrubError(runErr)
	if runErr != nil && (len(redact) > 0 || sec.n() > 0) {
		out = zero // an output beside an error is not cleaned, so it is not returned
	}
	if runErr == nil {
		// Cleaning and encoding run the output type's own MarshalJSON: a panic
		// or an error there (NaN, a cycle) withholds the output, and the
		// outcome is still recorded.
		var withheld error
		if out, withheld = g.cleanOutput(&ev, out, redact, sec, c.outJSON); withheld != nil {
			out, runErr = zero, withheld
		}
	}
	ev.Time = g.e.now()
	ev.Duration = ev.Time.Sub(c.start)
	switch pe, isPanic := runErr.(*panicError); {
	case isPanic:
		ev.Outcome, ev.Error, ev.ErrorType = audit.OutcomePanic, pe.Error(), "panic"
	case isNotRun(runErr):
		ev.Outcome, ev.Error, ev.ErrorType = audit.OutcomeDenied, runErr.Error(), "not_run"
	case runErr != nil:
		ev.Outcome, ev.Error, ev.ErrorType = audit.OutcomeError, runErr.Error(), fmt.Sprintf("%T", runErr)
		ev.Output, ev.OutputDigest = nil, ""
	default:
		ev.Outcome = audit.OutcomeOK
	}
	if err := g.e.sink.Record(c.sinkCtx, ev); err != nil {
		return zero, auditFailed(g.tool.Name, err)
	}
	return out, runErr
}

// cleanOutput redacts and scrubs out as the decision asks and digests (and, if
// configured, records) what the model will see. Any failure, a panic in the
// output type's MarshalJSON included, returns a denial that withholds it.
func (g *Guard[In, Out]) cleanOutput(ev *audit.Event, out Out, redact []string, sec *secrets, js *[]byte) (clean Out, err error) {
	defer func() {
		if r := recover(); r != nil {
			de := newDenial(CodeBadOutput, nil, "the output could not be encoded and was withheld",
				fmt.Sprintf("encoding the output panicked: %v", r))
			de.Tool, err = g.tool.Name, de
		}
	}()
	if len(redact) > 0 || sec.n() > 0 {
		if out, ev.Redacted, err = rewriteOutput(out, redact, sec); err != nil {
			de := newDenial(CodeRedactionFailed, err, "the output could not be redacted and was withheld", err.Error())
			de.Tool = g.tool.Name
			return out, de
		}
	}
	if g.e.opts.RecordOutput || js != nil {
		var b []byte
		if b, err = json.Marshal(out); err == nil {
			ev.OutputDigest = audit.DigestBytes(b)
			if g.e.opts.RecordOutput {
				ev.Output = b
			}
			if js != nil {
				*js = b // CallJSON returns these bytes: the output's MarshalJSON is not run again
			}
		}
	} else {
		ev.OutputDigest, _, err = digestOf(g.flatOut, &out)
	}
	if err != nil {
		de := newDenial(CodeBadOutput, err, "the output could not be encoded and was withheld", err.Error())
		de.Tool = g.tool.Name
		return out, de
	}
	return out, nil
}

// panicError is a recovered tool panic. It matches ErrToolPanic.
type panicError struct {
	tool  string
	value any
}

func (p *panicError) Error() string {
	return fmt.Sprintf("tools: tool %s panicked: %v", p.tool, p.value)
}

func (p *panicError) Is(target error) bool { return target == ErrToolPanic }
