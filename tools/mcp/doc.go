// Package mcp puts modelguard in front of the tools of a server built with the
// official MCP Go SDK (github.com/modelcontextprotocol/go-sdk/mcp).
//
// Its name clashes with the SDK's package, so import it under another name:
//
//	import (
//		"github.com/modelcontextprotocol/go-sdk/mcp"
//		guardmcp "github.com/modelguard/modelguard/tools/mcp"
//	)
//
// # Guarded tools
//
// [Handler] turns a [tools.Guard] into a typed SDK tool handler, and [AddTool]
// adds it to a server under the guard's tool name. [NewGuard] guards a handler
// already written for the SDK. [AddTools] adds every tool of a
// [tools.Registry], with input schemas derived from the tools' Go input types;
// its calls are decoded strictly by the guard, so a malformed call is denied and
// recorded rather than reaching the tool.
//
// A call the guard denies reaches the model as a tool error (a result with
// IsError set) whose only text is [tools.DeniedError.Error]: the tool, the
// reason code and the deciding rules' own messages. The rule ids and the full
// explanation go to the audit log, not to the model.
//
// # Identity
//
// Over streamable HTTP, [NewHTTPHandler] is the whole setup: protected
// resource metadata, bearer check with challenges, audience and session
// binding, and [Middleware]. To assemble it yourself instead, put [auth.RequireBearerToken] with [TokenVerifier] in
// front of the SDK's handler: requests without a valid modelguard token are
// refused with 401 before any MCP message is read, and each request's verified
// token travels with its messages to the guard (see [Context]). Other HTTP
// middleware that leaves the Authorization header in place (such as
// tools/httpguard) works too: the guard then reads the bearer token of each
// request from its headers.
//
// Over in-process transports (mcp.NewInMemoryTransports, stdio) there are no
// per-request credentials: the identity is the token in the context passed to
// Server.Connect ([identity.WithToken]), for the whole session.
//
// # Visibility
//
// [Middleware], added with Server.AddReceivingMiddleware, filters tools/list to
// the tools the caller's identity could be allowed to call
// ([tools.Registry.Visible]), so two model identities connected to the same
// server see different tool lists. It also denies, and records, calls to tools
// the registry does not hold, so a tool added to the server without a guard
// cannot be called. Hiding a tool is a convenience for the model; the guard
// still decides every call in full.
package mcp
