module github.com/modelguard/modelguard

go 1.26.8

require (
	cel.dev/cel-go v0.33.2 // indirect
	github.com/go-jose/go-jose/v4 v4.1.9 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
	golang.org/x/time v0.16.0 // indirect
)
