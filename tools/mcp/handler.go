package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/tools"
	"github.com/modelguard/modelguard/tools/httpguard"
)

// Handler returns a typed SDK tool handler that makes each call through g, with
// the identity and session of the MCP request (see [Context]). A call g denies,
// or a tool error, comes back as a tool error result whose text is [ErrorText].
//
// Add it under g's tool name, so that [Middleware] and the audit log agree with
// the model on what was called; [AddTool] does that.
func Handler[In, Out any](g *tools.Guard[In, Out]) sdk.ToolHandlerFor[In, Out] {
	return func(ctx context.Context, req *sdk.CallToolRequest, in In) (*sdk.CallToolResult, Out, error) {
		ctx = context.WithValue(requestContext(ctx, req), requestKey{}, req)
		out, err := g.Call(ctx, in)
		httpguard.StepUpFromContext(ctx).AddDenial(err)
		noteApproval(ctx, err)
		if err != nil {
			var zero Out
			return nil, zero, errors.New(ErrorText(err))
		}
		return nil, out, nil
	}
}

// AddTool adds g to s with [Handler]. t supplies the title, description,
// annotations and schemas (nil means none: the SDK derives the schemas from In
// and Out); its name must be empty or g's tool name. Like [sdk.AddTool], it
// panics on a tool the SDK cannot serve.
func AddTool[In, Out any](s *sdk.Server, t *sdk.Tool, g *tools.Guard[In, Out]) {
	def := sdk.Tool{}
	if t != nil {
		def = *t
	}
	name := g.Tool().Name
	if def.Name != "" && def.Name != name {
		panic(fmt.Sprintf("mcp: AddTool: MCP tool %q is guarded as %q", def.Name, name))
	}
	def.Name = name
	sdk.AddTool(s, &def, Handler(g))
}

type requestKey struct{}

// NewGuard guards h, a tool handler written for the SDK, as the tool t: the
// guard runs h with the verified identity in its context and the MCP request
// [Handler] received (or, called outside MCP, a request naming t only).
//
// Only h's output value passes through the guard, to be recorded (and, where
// the policy asks, redacted), so only it reaches the model: content h puts in
// its result is dropped. A result h marks IsError is a tool error whose text is
// the result's text content.
func NewGuard[In, Out any](e *tools.Enforcer, t tools.Tool, h sdk.ToolHandlerFor[In, Out]) (*tools.Guard[In, Out], error) {
	if h == nil {
		return nil, fmt.Errorf("mcp: NewGuard(%q): nil handler", t.Name)
	}
	return tools.NewGuard(e, t, func(ctx context.Context, in In) (Out, error) {
		req, _ := ctx.Value(requestKey{}).(*sdk.CallToolRequest)
		if req == nil {
			req = &sdk.CallToolRequest{Params: &sdk.CallToolParamsRaw{Name: t.Name}}
		}
		res, out, err := h(ctx, req, in)
		if err == nil && res != nil && res.IsError {
			err = errors.New(resultText(res))
		}
		return out, err
	})
}

// AddTools adds every tool of r to s. Each call is decoded strictly into the
// tool's input type by the guard, so a malformed call is denied and recorded.
// defs optionally supply titles, descriptions and annotations, matched by name;
// input schemas they leave nil are derived from the input types. It reports
// every problem at once and adds nothing if there is one.
func AddTools(s *sdk.Server, r *tools.Registry, defs ...*sdk.Tool) error {
	byName := map[string]*sdk.Tool{}
	for _, d := range defs {
		byName[d.Name] = d
	}
	var errs []error
	var add []*sdk.Tool
	hs := r.Handlers()
	for _, h := range hs {
		def, err := toolDef(h, byName[h.Tool().Name])
		errs = append(errs, err)
		add = append(add, def)
		delete(byName, h.Tool().Name)
	}
	for name := range byName {
		errs = append(errs, fmt.Errorf("mcp: AddTools: definition of %q, which the registry does not hold", name))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for i, h := range hs {
		s.AddTool(add[i], rawHandler(h))
	}
	return nil
}

func toolDef(h tools.Handler, d *sdk.Tool) (*sdk.Tool, error) {
	def := sdk.Tool{Name: h.Tool().Name}
	if d != nil {
		def = *d
	}
	if def.InputSchema != nil {
		return &def, nil
	}
	schema, err := jsonschema.ForType(h.InputType(), &jsonschema.ForOptions{})
	if err != nil {
		return nil, fmt.Errorf("mcp: AddTools: input schema of %q: %w", def.Name, err)
	}
	if schema.Type != "object" {
		return nil, fmt.Errorf("mcp: AddTools: input of %q is %s, not an object", def.Name, h.InputType())
	}
	def.InputSchema = schema
	return &def, nil
}

// rawHandler serves a registry tool: JSON in, JSON out, through the guard.
func rawHandler(h tools.Handler) sdk.ToolHandler {
	return func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		ctx = requestContext(ctx, req)
		out, err := h.CallJSON(ctx, req.Params.Arguments)
		httpguard.StepUpFromContext(ctx).AddDenial(err)
		noteApproval(ctx, err)
		return callResult(out, err), nil
	}
}

// callResult is the tool result of a JSON call: the output as text (and as
// structured content when it is an object), or the error.
func callResult(out json.RawMessage, err error) *sdk.CallToolResult {
	if err != nil {
		return &sdk.CallToolResult{IsError: true, Content: []sdk.Content{&sdk.TextContent{Text: ErrorText(err)}}}
	}
	res := &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: string(out)}}}
	if bytes.HasPrefix(bytes.TrimSpace(out), []byte("{")) {
		res.StructuredContent = out
	}
	return res
}

func requestContext(ctx context.Context, req *sdk.CallToolRequest) context.Context {
	return Context(ctx, req.Session, req.Extra)
}

// ErrorText is what the model is told about a failed guarded call: for a denial,
// [tools.DeniedError.Error] (the tool, the reason code and the deciding rules'
// messages); for a tool that panicked, only that it failed; for any other tool
// error, its message, which the tool chose.
func ErrorText(err error) string { return tools.ModelText(err) }

func resultText(res *sdk.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if t, ok := c.(*sdk.TextContent); ok {
			parts = append(parts, t.Text)
		}
	}
	if len(parts) == 0 {
		return "tool error"
	}
	return strings.Join(parts, "\n")
}

// Middleware returns receiving middleware for an MCP server whose tools are the
// tools of r (add it with Server.AddReceivingMiddleware):
//
//   - tools/list answers only with tools the caller's identity could be allowed
//     to call (see [tools.Registry.Visible]), with no valid identity none, and
//     marks the list cacheScope "private", since it is this identity's;
//   - tools/call of a tool r does not hold, or hides from the caller, is
//     recorded by r and answered with the JSON-RPC error -32602 (invalid
//     params), as for an unknown tool, whatever handler the server has for it.
//
// A call that waits for human approval is told the approval request's id and
// how to get it approved ([httpguard.ApprovalText]); see [HTTPOptions.ApprovalURL]
// for sending the user to the approval page instead.
//
// Everything else passes through unchanged. It panics if r is nil.
func Middleware(r *tools.Registry) sdk.Middleware { return middleware(r, "") }

func middleware(r *tools.Registry, approvalURL string) sdk.Middleware {
	if r == nil {
		panic("mcp: Middleware(nil)")
	}
	return func(next sdk.MethodHandler) sdk.MethodHandler {
		return func(ctx context.Context, method string, req sdk.Request) (sdk.Result, error) {
			switch method {
			case "tools/list":
				res, err := next(ctx, method, req)
				if list, ok := res.(*sdk.ListToolsResult); ok && err == nil {
					list.Tools = visible(Context(ctx, session(req), req.GetExtra()), r, list.Tools)
					list.CacheScope = "private" // the list is this identity's
				}
				return res, err
			case "tools/call":
				if p, ok := req.GetParams().(*sdk.CallToolParamsRaw); ok {
					if err := hidden(Context(ctx, session(req), req.GetExtra()), r, p); err != nil {
						return nil, err
					}
				}
				slot := &approvalSlot{}
				res, err := next(context.WithValue(ctx, approvalKey{}, slot), method, req)
				slot.mu.Lock()
				de := slot.de
				slot.mu.Unlock()
				if de != nil && err == nil {
					return approvalAnswer(session(req), de, approvalURL, res)
				}
				return res, err
			}
			return next(ctx, method, req)
		}
	}
}

func visible(ctx context.Context, r *tools.Registry, listed []*sdk.Tool) []*sdk.Tool {
	may := map[string]bool{}
	for _, h := range r.Visible(ctx) {
		may[h.Tool().Name] = true
	}
	out := make([]*sdk.Tool, 0, len(may))
	for _, t := range listed {
		if may[t.Name] {
			out = append(out, t)
		}
	}
	return out
}

// hidden records, and returns as a JSON-RPC invalid-params error, a call to a
// tool r does not hold or hides from the caller: the MCP specification lists
// unknown tools among protocol errors (2025-11-25 server/tools, "Error
// Handling"). It returns nil for a tool the caller may see, and for a caller
// without a token, whom the guard denies as unauthenticated.
func hidden(ctx context.Context, r *tools.Registry, p *sdk.CallToolParamsRaw) error {
	h, ok := r.Handler(p.Name)
	switch _, hasToken := identity.TokenFromContext(ctx); {
	case !hasToken && ok:
		return nil
	case !ok:
		r.Call(ctx, p.Name, p.Arguments) // denied and recorded: r does not hold it
	case !h.MayCall(ctx):
		r.DenyHidden(ctx, p.Name, p.Arguments)
	default:
		return nil
	}
	return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("unknown tool %q", p.Name)}
}

func session(req sdk.Request) *sdk.ServerSession {
	s, _ := req.GetSession().(*sdk.ServerSession)
	return s
}
