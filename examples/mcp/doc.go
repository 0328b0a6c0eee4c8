// Command mcp serves guarded tools over MCP (the official Go SDK's streamable
// HTTP transport, on loopback) and connects to it as two different model
// identities, offline.
//
// The server puts the SDK's bearer-token middleware, with modelguard's token
// verifier, in front of its handler, and modelguard's middleware in front of
// its methods: a client without a valid token is refused with 401, and each
// identity lists only the tools it could be allowed to call. Each client then
// calls tools: the support agent reads a ticket and is refused an attachment
// export, the coding assistant reads source and is refused a ticket; each
// refusal reaches the model as a tool error with the reason code and the rule's
// message only. The audit log goes to a file whose path it prints. The policy is
// policy.yaml beside this file.
//
//	go run ./examples/mcp [-dir DIR]
package main
