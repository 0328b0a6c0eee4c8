module github.com/modelguard/modelguard/tools/mcpgo

go 1.26.8

replace github.com/modelguard/modelguard => ../..

require (
	github.com/mark3labs/mcp-go v1.2.1 // indirect
	github.com/modelguard/modelguard v0.0.0-00010101000000-000000000000
)
