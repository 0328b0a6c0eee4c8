module github.com/modelguard/modelguard/tools/openai

go 1.26.8

replace github.com/modelguard/modelguard => ../..

require (
	github.com/coder/websocket v1.8.15 // indirect
	github.com/modelguard/modelguard v0.0.0-00010101000000-000000000000
	github.com/openai/openai-go/v3 v3.98.0 // indirect
	github.com/tidwall/gjson v1.20.0 // indirect
	github.com/tidwall/match v1.1.1 // indirect
	github.com/tidwall/pretty v1.2.1 // indirect
	github.com/tidwall/sjson v1.2.5 // indirect
)
