package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"sync"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/policy"
)

// Handler is a guarded tool behind a JSON boundary: what model integrations (MCP
// servers, OpenAI and Anthropic tool calls) dispatch to. [*Guard] implements it.
type Handler interface {
	// Tool names the tool.
	Tool() Tool
	// InputType is the Go type arguments decode into (for JSON schemas).
	InputType() reflect.Type
	// CallJSON decodes args strictly into the tool's input, makes the guarded
	// call, and encodes the output.
	CallJSON(ctx context.Context, args json.RawMessage) (json.RawMessage, error)
	// MayCall reports whether the identity in ctx could be allowed to call the
	// tool with some arguments.
	MayCall(ctx context.Context) bool
}

// InputType returns In's type.
func (g *Guard[In, Out]) InputType() reflect.Type { return reflect.TypeFor[In]() }

// MayCall verifies the identity token in ctx and reports whether the policy could
// allow it to call the tool with some arguments (see [policy.Program.MayAllow]).
// It records nothing; the call itself is still guarded in full.
func (g *Guard[In, Out]) MayCall(ctx context.Context) bool {
	if g.ready() != nil || ctx == nil {
		return false
	}
	claims, err := g.e.authenticate(ctx)
	if err != nil {
		return false
	}
	return g.e.program(g.idx).MayAllow(ctx, claims, policy.Request{Time: g.e.now()})
}

// CallJSON is [Guard.Call] for JSON arguments. Arguments are decoded strictly:
// unknown fields, trailing data and type mismatches deny the call with
// [ErrBadArgs] (and are recorded), since a model's malformed call must not reach
// the tool as zero values.
func (g *Guard[In, Out]) CallJSON(ctx context.Context, args json.RawMessage) (json.RawMessage, error) {
	if err := g.ready(); err != nil {
		return nil, err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	var in In
	err := fmt.Errorf("arguments are %d bytes, over the %d byte limit", len(args), g.e.opts.MaxArgsBytes)
	if len(args) <= g.e.opts.MaxArgsBytes { // checked before decoding: a huge payload costs nothing
		err = decodeStrict(args, &in)
	}
	if err != nil {
		prog := g.e.program(g.idx)
		c := g.start(ctx, prog, &in, true)
		c.ev.ArgsDigest, c.ev.Args = audit.DigestBytes(args), nil // the record describes what the model sent
		if claims, aerr := g.e.authenticate(ctx); aerr == nil {
			c.ev.Identity = identityOf(claims)
		}
		return nil, g.deny(ctx, &c, newDenial(CodeBadArgs, err, "arguments do not match the tool's input: "+err.Error(), err.Error()))
	}
	var js []byte
	if _, err := g.call(ctx, in, true, &js); err != nil {
		return nil, err
	}
	return js, nil
}

// decodeStrict decodes args into v after [checkStrict] has refused every input
// that encoding/json would read leniently.
func decodeStrict(args json.RawMessage, v any) (err error) {
	defer func() { // a panic in the input type's own UnmarshalJSON refuses the arguments
		if r := recover(); r != nil {
			err = fmt.Errorf("decoding the arguments panicked: %v", r)
		}
	}()
	switch a := bytes.TrimSpace(args); {
	case len(a) == 0:
		args = []byte("{}")
	case bytes.Equal(a, []byte("null")):
		return errors.New("arguments are null")
	}
	if err := checkStrict(args, reflect.TypeOf(v).Elem()); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// ModelText is the text of err that may be shown to a model: a denial's own
// model-safe text, a fixed text for a panic, and the error as is otherwise (a
// tool's own error, already scrubbed of injected secrets).
func ModelText(err error) string {
	var de *DeniedError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &de):
		return de.Error()
	case errors.Is(err, ErrToolPanic):
		return "modelguard: the tool failed"
	}
	return err.Error()
}

// ErrUnknownTool: the model called a tool the registry does not have.
var ErrUnknownTool = errors.New("tools: unknown tool")

// Registry holds guarded tools by name, for integrations that receive tool calls
// as a name and JSON arguments. A call to a name that is not registered is denied
// and recorded. A Registry is safe for concurrent use.
type Registry struct {
	e  *Enforcer
	mu sync.RWMutex
	m  map[string]Handler
}

// NewRegistry returns a registry of handlers, all guarded by e.
func NewRegistry(e *Enforcer, hs ...Handler) (*Registry, error) {
	if err := e.ready(); err != nil {
		return nil, fmt.Errorf("tools: NewRegistry: %w", err)
	}
	r := &Registry{e: e, m: map[string]Handler{}}
	for _, h := range hs {
		if err := r.Add(h); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Add registers h; a second handler with the same name is an error.
func (r *Registry) Add(h Handler) error {
	if err := r.ready(); err != nil {
		return err
	}
	if isNil(h) {
		return errors.New("tools: Registry.Add: nil handler")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	name := h.Tool().Name
	if _, dup := r.m[name]; dup {
		return fmt.Errorf("tools: tool %q registered twice", name)
	}
	r.m[name] = h
	return nil
}

// ready reports whether r was built by [NewRegistry].
func (r *Registry) ready() error {
	if r == nil || r.m == nil || r.e.ready() != nil {
		return fmt.Errorf("tools: Registry: %w (use NewRegistry)", ErrNotReady)
	}
	return nil
}

// Handler returns the handler registered under name.
func (r *Registry) Handler(name string) (Handler, bool) {
	if r.ready() != nil {
		return nil, false
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	h, ok := r.m[name]
	return h, ok
}

// Handlers returns the registered handlers sorted by name.
func (r *Registry) Handlers() []Handler {
	if r.ready() != nil {
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]Handler, 0, len(r.m))
	for _, h := range r.m {
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Tool().Name < out[j].Tool().Name })
	return out
}

// Visible returns the handlers the identity in ctx could be allowed to call.
func (r *Registry) Visible(ctx context.Context) []Handler {
	var out []Handler
	for _, h := range r.Handlers() {
		if h.MayCall(ctx) {
			out = append(out, h)
		}
	}
	return out
}

// Call dispatches a tool call by name. The call id, session and prompt of the
// call travel in ctx (see [WithCall]).
func (r *Registry) Call(ctx context.Context, name string, args json.RawMessage) (json.RawMessage, error) {
	if err := r.ready(); err != nil {
		return nil, err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if h, ok := r.Handler(name); ok {
		return h.CallJSON(ctx, args)
	}
	return nil, r.e.denyUnknown(ctx, name, args)
}

// denyUnknown records and returns the denial of a call to an unregistered tool.
func (e *Enforcer) denyUnknown(ctx context.Context, name string, args json.RawMessage) error {
	return e.refuse(ctx, name, args, newDenial(CodeUnknownTool, nil, "no such tool", "no tool named "+strconv.Quote(name)+" is registered"))
}

// refuse records de, a denial decided before any guard ran, and returns it.
func (e *Enforcer) refuse(ctx context.Context, name string, args json.RawMessage, de *DeniedError) error {
	c := e.begin(ctx, name)
	c.ev.ArgsDigest = audit.DigestBytes(args)
	if claims, err := e.authenticate(ctx); err == nil {
		c.ev.Identity = identityOf(claims)
	}
	return e.deny(&c, de)
}
