// Package spiretest runs a real SPIRE server and agent for integration tests:
// both on 127.0.0.1 and unix sockets in a temporary directory, the agent
// joined with a join token, so that a test can register workload entries and
// fetch JWT-SVIDs from the agent's Workload API.
//
// # Binaries
//
// The SPIRE binaries are built once by the repository's .ci/spire script,
// from the version pinned in the spirebin module beside this package, and
// found through the MODELGUARD_SPIRE_BIN variable that the script prints:
//
//	eval "$(.ci/spire)"
//	go test ./identity/spiffe/...
//
// Without the variable the tests that need SPIRE skip and say so, except
// under CI=true, where they fail: CI must run them.
package spiretest
