// Package bundle signs, verifies and distributes policy bundles: the policy
// files of a fleet plus a manifest (version, creation time, each file's name,
// size and SHA-256), signed with Ed25519 in the signed-note format the audit
// log's checkpoints use (golang.org/x/mod/sumdb/note).
//
// `modelguard policy bundle build|sign|verify` makes and checks bundles; a
// [Source] fetches one over HTTP and applies each newer bundle to an enforcer:
//
//	src, _ := bundle.NewSource("https://policy.internal/bundle.json", bundle.SourceOptions{Keys: keys})
//	go src.Run(ctx, enforcer, logError)
//
// # What is refused
//
// A bundle over [MaxBytes], with a file missing, extra or not matching its
// manifest line, not signed by a configured key (or with a bad signature by
// one), whose version is not greater than the running bundle's, or whose rules
// do not compile against every guard, is refused; the refusal is recorded in
// the audit log and the last good policy stays in force. Decisions under a
// bundle carry its version ("bundle-7") as their policy version.
package bundle
