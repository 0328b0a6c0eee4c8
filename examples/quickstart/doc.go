// Command quickstart shows modelguard end to end, offline, on embedded defaults:
// it generates a signing key, mints tokens for two model identities (a read-only
// support agent and a coding assistant), calls guarded tools with allowed and
// denied calls, prints a table of decisions with their reasons, and writes the
// audit log to a file whose path it prints.
//
//	go run ./examples/quickstart [-dir DIR]
package main
