package mcpgo

import (
	"context"
	"net/http"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/modelguard/modelguard/tools"
	"github.com/modelguard/modelguard/tools/httpguard"
)

// HTTPOptions configure [NewHTTPHandler]. The zero value is valid.
type HTTPOptions struct {
	// Streamable configures mcp-go's streamable HTTP server.
	Streamable []server.StreamableHTTPOption
	// OnError, if set, is told why a request was refused (see
	// httpguard.Options.OnError); the client never is. It must be safe for
	// concurrent use.
	OnError func(r *http.Request, err error)
	// Realm, if set, is the realm of every challenge.
	Realm string
	// ApprovalURL, if set, is the URL template of the approval page of one
	// request, "{id}" standing for its id (https://host/approvals/{id}; see
	// httpguard.CheckApprovalURL). A call that needs human approval then
	// sends a client that supports URL-mode elicitation (revision
	// 2025-11-25) to that page with the error -32042; the client retries the
	// call once the user approved it. Other clients, and every client when
	// it is empty, get a tool error naming the request id and how to get it
	// approved.
	ApprovalURL string
}

// NewHTTPHandler returns s over streamable HTTP as a protected resource, ready
// to serve: the shortest setup that follows the MCP authorization
// specification (2025-06-18 and 2025-11-25). m describes the resource: its
// Resource is the URL of the MCP endpoint (made canonical, RFC 8707), and its
// AuthorizationServers the issuers clients get tokens from. The handler
//
//   - serves m (RFC 9728) without credentials at its well-known URL
//     (httpguard.MetadataURL) and at the root well-known URL;
//   - refuses every other request without a token v verifies for this
//     resource (its audience must hold m.Resource) with 401 and a
//     WWW-Authenticate challenge naming the metadata, error="invalid_token"
//     for a presented token, and a body that never says why;
//   - binds each MCP session to the identity (issuer and subject) that opened
//     it: another identity on it gets 403, and r records the refusal
//     ([tools.Registry.DenySession]);
//   - installs on s [Middleware], [Filter] and [RecordRefused]: tools/list
//     shows each identity its own tools (mcp-go marks lists cacheScope
//     "private" by default), every call goes through r, and a call to a tool r
//     does not hold or hides from the caller is a JSON-RPC invalid-params
//     error (-32602), audited.
//
// Add the tools first (see [AddTools]), and do not install those yourself.
// The token is verified here and again by each guard; it is never passed to
// anything downstream. It fails with httpguard.ErrBadResource for an unusable
// m.Resource, and panics if s, r or v is nil.
func NewHTTPHandler(s *server.MCPServer, r *tools.Registry, v tools.Verifier, m httpguard.Metadata, opts HTTPOptions) (http.Handler, error) {
	if s == nil || r == nil || v == nil {
		panic("mcpgo: NewHTTPHandler: nil server, registry or verifier")
	}
	if opts.ApprovalURL != "" {
		if err := httpguard.CheckApprovalURL(opts.ApprovalURL); err != nil {
			return nil, err
		}
	}
	h, err := httpguard.Protect(server.NewStreamableHTTPServer(s, opts.Streamable...), v, m, httpguard.ProtectOptions{
		Options:           httpguard.Options{Realm: opts.Realm, OnError: opts.OnError},
		SessionHeader:     httpguard.SessionHeader,
		OnSessionMismatch: httpguard.AuditSessions(r),
		StepUp:            true,
	})
	if err != nil {
		return nil, err
	}
	s.Use(middleware(r, opts.ApprovalURL))
	server.WithToolFilter(Filter(r))(s)
	hooks := s.GetHooks()
	if hooks == nil {
		hooks = &server.Hooks{}
		server.WithHooks(hooks)(s)
	}
	hooks.AddBeforeCallTool(RecordRefused(r))
	return h, nil
}

// RecordRefused returns a hook (add it with Hooks.AddBeforeCallTool) that
// records the calls mcp-go refuses before any handler runs, with the JSON-RPC
// error -32602: calls to a tool r does not hold and, with [Filter] installed,
// to a tool r hides from the caller. With it, every attempt is in the audit
// log. It panics if r is nil.
func RecordRefused(r *tools.Registry) server.OnBeforeCallToolFunc {
	if r == nil {
		panic("mcpgo: RecordRefused(nil)")
	}
	return func(ctx context.Context, _ any, req *mcp.CallToolRequest) {
		if req == nil {
			return
		}
		ctx = callContext(ctx)
		args, _ := arguments(*req)
		h, ok := r.Handler(req.Params.Name)
		switch {
		case !ok:
			r.Call(ctx, req.Params.Name, args) // denied and recorded: r does not hold it
		case !h.MayCall(ctx):
			r.DenyHidden(ctx, req.Params.Name, args)
		}
	}
}
