package mcp

import (
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/auth"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/modelguard/modelguard/tools"
	"github.com/modelguard/modelguard/tools/httpguard"
)

// HTTPOptions configure [NewHTTPHandler]. The zero value is valid.
type HTTPOptions struct {
	// Streamable configures the SDK's streamable HTTP transport; nil means
	// its defaults.
	Streamable *sdk.StreamableHTTPOptions
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
//   - adds [Middleware] to s: tools/list shows each identity its own tools,
//     marked cacheScope "private", and a call to a tool r does not hold or
//     hides from the caller is a JSON-RPC invalid-params error (-32602), audited.
//
// Add the tools first (see [AddTools]), and do not add Middleware yourself.
// The token is verified here and again by each guard; it is never passed to
// anything downstream. It fails with httpguard.ErrBadResource for an unusable
// m.Resource, and panics if s, r or v is nil.
func NewHTTPHandler(s *sdk.Server, r *tools.Registry, v tools.Verifier, m httpguard.Metadata, opts HTTPOptions) (http.Handler, error) {
	if s == nil || r == nil || v == nil {
		panic("mcp: NewHTTPHandler: nil server, registry or verifier")
	}
	if opts.ApprovalURL != "" {
		if err := httpguard.CheckApprovalURL(opts.ApprovalURL); err != nil {
			return nil, err
		}
	}
	streamable := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s }, opts.Streamable)
	// The SDK gets the verified identity as its TokenInfo, so it binds
	// sessions to users too, and each request carries its own identity.
	bridged := auth.RequireBearerToken(verified, nil)(streamable)
	h, err := httpguard.Protect(bridged, v, m, httpguard.ProtectOptions{
		Options:           httpguard.Options{Realm: opts.Realm, OnError: opts.OnError},
		SessionHeader:     httpguard.SessionHeader,
		OnSessionMismatch: httpguard.AuditSessions(r),
		StepUp:            true,
	})
	if err != nil {
		return nil, err
	}
	s.AddReceivingMiddleware(middleware(r, opts.ApprovalURL))
	return h, nil
}
