module github.com/modelguard/modelguard/tools/mcp

go 1.26.8

replace github.com/modelguard/modelguard => ../..

require github.com/modelguard/modelguard v0.0.0-00010101000000-000000000000

require github.com/modelcontextprotocol/go-sdk v1.8.0 // indirect
