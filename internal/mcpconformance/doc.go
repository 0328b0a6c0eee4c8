// Package mcpconformance tests modelguard's MCP adapters (tools/mcp for the
// official Go SDK, tools/mcpgo for mark3labs/mcp-go) with clients nobody here
// wrote: the official TypeScript SDK client and the MCP Inspector CLI (in
// node/, pinned by its package-lock.json), and the official Go SDK client.
//
// Both adapters serve the same guarded tools with their NewHTTPHandler on
// 127.0.0.1; the tests assert the same rows on each: protected resource
// metadata, challenges, per-identity lists, denial shapes, session binding,
// step-up and approvals.
//
// The Node tests need `npm ci` in node/ (.ci/node does it); without
// node_modules they skip and say so, unless MODELGUARD_TEST_NODE=1, when they
// fail.
package mcpconformance
