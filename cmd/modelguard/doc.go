// Command modelguard is the command-line companion of the modelguard library:
// it makes the keys and tokens that model identities are built from, and checks
// the policy files that guards enforce.
//
// Usage:
//
//	modelguard <command> [subcommand] [flags] [args]
//
// Every command prints its flags with -h (or: modelguard help <command>).
// Results go to standard output, messages and errors to standard error. The
// exit status is 0 on success, 1 when the command ran and found a problem, and
// 2 when the command line is wrong (unknown command, missing or bad flag).
//
// # keygen
//
// Keygen generates a private signing key for an identity issuer (EdDSA by
// default, or ES256) and writes it as a JWK with file mode 0600. The public
// half is written as a JWK Set, the document verifiers load with
// identity.LoadKeySet, to -pub or, without -pub, to standard output. Existing
// files are refused unless -force is given. The key id defaults to the key's
// RFC 7638 thumbprint; the files written and the kid are reported on standard
// error.
//
//	modelguard keygen -alg EdDSA -kid issuer-2025-01 -out issuer.jwk -pub issuer.jwks
//
// # token mint
//
// Token mint signs a short-lived model identity token with a private JWK and
// prints it on standard output, ready for identity.WithToken or an
// Authorization header. -key, -iss, -aud and -sub are required; -ttl (default
// 5m) must be positive and at most -max-ttl (default 1h, the longest lifetime
// a verifier accepts by default). -claim adds a custom claim and may be
// repeated; a value that is valid JSON is decoded, anything else is a string.
//
//	modelguard token mint -key issuer.jwk -iss https://id.example.com -aud tickets-api \
//		-sub support-bot@example.com -agent support-bot -tenant acme -env prod \
//		-scope "tickets:read tickets:write" -model openai/gpt-4o/2024-08-06 \
//		-ttl 10m -claim tier=3 -claim 'regions=["eu","us"]'
//
// Delegation and lifetime: -act adds an actor to the RFC 8693 act chain
// (current actor first; a plain subject or a JSON object with sub, iss and
// scope), -may-act sets may_act, -iat fixes the issue time, -nbf delays the
// start of validity and -jti fixes the token id.
//
//	modelguard token mint -key issuer.jwk -iss https://id.example.com -aud tools -sub model:bot \
//		-act '{"sub":"svc:gateway","scope":"tickets:read"}' -act user:alice -nbf 30s
//
// # token inspect
//
// Token inspect prints a token's header and claims (marked unverified) and,
// with -keys (a JWK Set file) or -jwks (a JWK Set URL), verifies it as a
// guard would: it prints "verified", or the exact reason it fails with the
// identity error a program would branch on (identity.ErrExpired, …), and then
// exits 1. -iss and -aud default to the token's own; -now verifies as of
// another time.
//
//	modelguard token inspect -keys issuer.jwks -iss https://id.example.com -aud tools "$TOKEN"
//
// # keys rotate
//
// Keys rotate generates a new signing key (private JWK to -out), appends its
// public half to the JWK Set file -set, marks every older key with
// "mg_retire_after" (now + -grace) and removes keys whose mark has passed.
// Publish the set, then sign with the new key.
//
//	modelguard keys rotate -set issuer.jwks -out issuer-2026-04.jwk -grace 24h
//
// # policy check
//
// Policy check loads policy files the way a guard does (policy.Load) and
// reports either
//
//	ok: 3 rules from 2 files, version sha256:…
//
// or every problem found, one per line in the form
//
//	policies/support.yaml:5:15: rule tickets-read: undefined field 'agnet'
//
// and exits 1. Each -tool name=label,... also compiles the set for that tool
// (with args unchecked, as their Go type is not known here) and lists the
// rules that cover it, warning when none permits it.
//
//	modelguard policy check -tool tickets.get=read -tool payments.initiate policies/*.yaml
//
// # policy test, explain, replay
//
// Policy test runs YAML test cases (files ending in _test.yaml) against the
// policy files beside them and prints rule coverage; -require-coverage fails
// on a rule no case exercised. Policy explain shows what every rule did for
// one call and which clauses were false. Policy replay re-decides the
// decisions in an audit log under new policy files and lists every decision
// that would flip.
//
//	modelguard policy test -require-coverage policies/
//	modelguard policy explain -input call.json policies/*.yaml
//	modelguard policy replay -audit audit.jsonl -fail-on-flip policies-next/*.yaml
//
// # audit verify, prove, query
//
// Audit verify re-derives the Merkle tree of a log and checks its signed
// checkpoints, naming the first bad record; audit prove prints inclusion and
// consistency proofs that verify with the public key alone; audit query prints
// a timeline of what an agent saw and did, filtered by subject, agent, tool,
// session, prompt, rule or time.
//
//	modelguard audit verify -key log.pub audit.jsonl
//	modelguard audit query -agent research-bot -session s-42 audit.jsonl
//
// # approve list, grant, deny
//
// Approve works the PostgreSQL approval queue (tools/approvalpg) that guards
// file requests in: list shows them with the exact arguments; grant signs, with
// the approver's private JWK, a single-use grant bound to the request's
// subject, tool and argument digest and marks the request approved, so that
// any instance picks it up; deny refuses it.
//
//	modelguard approve list -db $DSN
//	modelguard approve grant -db $DSN -key alice.jwk -iss https://approvals.example.com -aud payments -approver alice@example.com apr-1f2e
//
// Approve elevate signs a temporary elevation instead: a reusable grant for a
// class of tools until it expires, printed for the application to attach to
// the model's calls (tools.WithGrant).
//
//	modelguard approve elevate -key alice.jwk -iss https://approvals.example.com -aud tools -sub model:coder -model-iss https://id.example.com -tool 'deploy.*' -approver alice@example.com -ttl 30m
//
// # help
//
// Help, or no command at all, lists the commands; help followed by a command
// shows that command's flags.
//
//	modelguard help token mint
package main
