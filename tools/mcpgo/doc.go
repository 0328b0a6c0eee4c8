// Package mcpgo puts modelguard in front of the tools of a server built with
// github.com/mark3labs/mcp-go.
//
// # Guarded tools
//
// [AddTools] adds every tool of a [tools.Registry] to an MCPServer, with input
// schemas derived from the tools' Go input types; [Handler] is the tool handler
// it registers for each. Arguments are decoded strictly by the guard, so a
// malformed call is denied and recorded rather than reaching the tool.
//
// [Middleware], installed with server.WithToolHandlerMiddleware, routes every
// tool call through the registry: a tool the registry guards is called through
// its guard, whatever handler the server holds for it, and a tool it does not
// guard is denied and recorded. A call the guard denies reaches the model as a
// tool error (IsError) whose only text is [tools.DeniedError.Error]: the tool,
// the reason code and the deciding rules' own messages.
//
// # Visibility
//
// [Filter], installed with server.WithToolFilter, lists only the tools the
// caller's identity could be allowed to call ([tools.Registry.Visible]). mcp-go
// applies tool filters to tools/call too, and answers a call to a tool the
// filter hides with a "tool not found" protocol error before any handler or
// middleware runs: add [RecordRefused] as a BeforeCallTool hook so that such
// calls, and calls to tools the registry does not hold, are in the audit log.
//
// # Identity
//
// Over streamable HTTP, [NewHTTPHandler] is the whole setup: protected
// resource metadata, bearer check with challenges, audience and session
// binding, Middleware, Filter and RecordRefused. mcp-go derives each request's
// context from its HTTP request, so to assemble it yourself put
// tools/httpguard's middleware in front of the StreamableHTTPServer: it refuses
// requests without a valid token with 401 and puts each request's token into
// its context, where the guard finds it. In process (client.NewInProcessClient)
// the context of each client call reaches the server: give it the token with
// identity.WithToken. Over stdio, give it to server.WithStdioContextFunc.
package mcpgo
