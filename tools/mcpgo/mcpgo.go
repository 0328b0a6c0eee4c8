package mcpgo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/modelguard/modelguard/tools"
	"github.com/modelguard/modelguard/tools/httpguard"
)

// Handler returns an mcp-go tool handler that calls h with the request's JSON
// arguments, in a context carrying the MCP session id (see [tools.WithCall]).
func Handler(h tools.Handler) server.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		args, err := arguments(req)
		if err != nil {
			return nil, err
		}
		ctx = callContext(ctx)
		out, err := h.CallJSON(ctx, args)
		if de := httpguard.ApprovalDenial(err); de != nil {
			return approvalAnswer(ctx, de, "")
		}
		return stepUp(ctx, out, err), nil
	}
}

// AddTools adds every tool of r to s with [Handler]. defs optionally supply
// titles, descriptions and annotations, matched by name; input schemas they
// leave empty are derived from the tools' input types. It reports every problem
// at once and adds nothing if there is one.
func AddTools(s *server.MCPServer, r *tools.Registry, defs ...mcp.Tool) error {
	byName := map[string]mcp.Tool{}
	for _, d := range defs {
		byName[d.Name] = d
	}
	var errs []error
	var add []server.ServerTool
	for _, h := range r.Handlers() {
		name := h.Tool().Name
		def, ok := byName[name]
		if !ok {
			def = mcp.Tool{Name: name}
		}
		delete(byName, name)
		if def.RawInputSchema == nil && def.InputSchema.Type == "" {
			raw, err := inputSchema(h)
			errs = append(errs, err)
			def.RawInputSchema = raw
		}
		add = append(add, server.ServerTool{Tool: def, Handler: Handler(h)})
	}
	for name := range byName {
		errs = append(errs, fmt.Errorf("mcpgo: AddTools: definition of %q, which the registry does not hold", name))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	s.AddTools(add...)
	return nil
}

func inputSchema(h tools.Handler) (json.RawMessage, error) {
	name := h.Tool().Name
	schema, err := jsonschema.ForType(h.InputType(), &jsonschema.ForOptions{})
	if err != nil {
		return nil, fmt.Errorf("mcpgo: AddTools: input schema of %q: %w", name, err)
	}
	if schema.Type != "object" {
		return nil, fmt.Errorf("mcpgo: AddTools: input of %q is %s, not an object", name, h.InputType())
	}
	return json.Marshal(schema)
}

// Middleware returns tool handler middleware that sends every tool call to r:
// a tool r holds is called through its guard, and a tool r does not hold is
// denied and recorded by r. The handlers the server holds are not called, so a
// tool added to the server without a guard cannot run. It panics if r is nil.
//
// A call that waits for human approval is told the approval request's id and
// how to get it approved ([httpguard.ApprovalText]); see [HTTPOptions.ApprovalURL]
// for sending the user to the approval page instead.
func Middleware(r *tools.Registry) server.ToolHandlerMiddleware { return middleware(r, "") }

func middleware(r *tools.Registry, approvalURL string) server.ToolHandlerMiddleware {
	if r == nil {
		panic("mcpgo: Middleware(nil)")
	}
	return func(server.ToolHandlerFunc) server.ToolHandlerFunc {
		return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			args, err := arguments(req)
			if err != nil {
				return nil, err
			}
			ctx = callContext(ctx)
			out, err := r.Call(ctx, req.Params.Name, args)
			if de := httpguard.ApprovalDenial(err); de != nil {
				return approvalAnswer(ctx, de, approvalURL)
			}
			return stepUp(ctx, out, err), nil
		}
	}
}

// Filter returns a tool filter that keeps the tools the identity in the
// request's context could be allowed to call, and drops every tool r does not
// hold. See the package documentation for its effect on tools/call. It panics
// if r is nil.
func Filter(r *tools.Registry) server.ToolFilterFunc {
	if r == nil {
		panic("mcpgo: Filter(nil)")
	}
	return func(ctx context.Context, listed []mcp.Tool) []mcp.Tool {
		may := map[string]bool{}
		for _, h := range r.Visible(ctx) {
			may[h.Tool().Name] = true
		}
		out := make([]mcp.Tool, 0, len(may))
		for _, t := range listed {
			if may[t.Name] {
				out = append(out, t)
			}
		}
		return out
	}
}

// arguments returns the call's arguments as JSON: the bytes received over the
// wire, or the arguments an in-process client passed, encoded.
func arguments(req mcp.CallToolRequest) (json.RawMessage, error) {
	if len(req.Params.RawArguments) > 0 {
		return req.Params.RawArguments, nil
	}
	if req.Params.Arguments == nil {
		return nil, nil
	}
	b, err := json.Marshal(req.Params.Arguments)
	if err != nil {
		return nil, fmt.Errorf("mcpgo: encode arguments of %s: %w", req.Params.Name, err)
	}
	return b, nil
}

// callContext adds the MCP session id to the call metadata in ctx.
func callContext(ctx context.Context) context.Context {
	call, _ := tools.CallFromContext(ctx)
	if s := server.ClientSessionFromContext(ctx); s != nil && call.SessionID == "" && s.SessionID() != "" {
		call.SessionID = s.SessionID()
		ctx = tools.WithCall(ctx, call)
	}
	return ctx
}

// stepUp notes a step-up denial for the HTTP answer (see httpguard.StepUp)
// and returns the tool result.
func stepUp(ctx context.Context, out json.RawMessage, err error) *mcp.CallToolResult {
	httpguard.StepUpFromContext(ctx).AddDenial(err)
	return callResult(out, err)
}

// callResult is the tool result of a JSON call: the output as text (and as
// structured content when it is an object), or the error as a tool error.
func callResult(out json.RawMessage, err error) *mcp.CallToolResult {
	if err != nil {
		return mcp.NewToolResultError(ErrorText(err))
	}
	res := mcp.NewToolResultText(string(out))
	if bytes.HasPrefix(bytes.TrimSpace(out), []byte("{")) {
		res.StructuredContent = out
	}
	return res
}

// ErrorText is what the model is told about a failed guarded call: for a denial,
// [tools.DeniedError.Error] (the tool, the reason code and the deciding rules'
// messages); for a tool that panicked, only that it failed; for any other tool
// error, its message, which the tool chose.
func ErrorText(err error) string { return tools.ModelText(err) }
