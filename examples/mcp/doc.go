// Command mcp serves guarded tools over MCP (the official Go SDK's streamable
// HTTP transport, on loopback) and connects to it as two different model
// identities, offline.
//
// The server is one call, guardmcp.NewHTTPHandler: protected resource
// metadata, bearer check with challenges, audience and session binding, and
// per-identity tool lists. A client without a valid token is refused with 401
// and a challenge naming the metadata (both printed), and each identity lists
// only the tools it could be allowed to call. Each client then calls tools: the
// support agent reads a ticket (the customer's email redacted) and tries an
// attachment export no rule could permit, the coding assistant reads source
// and tries a ticket; a tool an identity may not see is the JSON-RPC error
// -32602, as for an unknown tool, and recorded. The audit log goes to a file
// whose path it prints. The policy is policy.yaml beside this file.
//
//	go run ./examples/mcp [-dir DIR]
package main
