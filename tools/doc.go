// Package tools wraps tool functions in guards that enforce identity, policy and
// audit on every call.
//
// # Guarding a tool
//
// Build one [Enforcer] from a verifier, a policy set and an audit sink, then wrap
// each tool. The guarded function has the same signature as the plain one, so it
// drops in where the plain one was:
//
//	enf, _ := tools.NewEnforcer(verifier, set, sink, tools.Options{})
//	guardedGetTicket, err := tools.Wrap(enf, tools.Tool{Name: "tickets.get"}, getTicket)
//
// Wrapping compiles the rules that cover the tool against its input type (a
// struct or a pointer to one; policy sees its fields by their JSON names): a rule
// that names a field the input does not have fails here, at start-up.
//
// # The call path
//
// On each call the guard reads the raw identity token from the context (put there
// with identity.WithToken), verifies it, decides with the policy, records the
// decision, runs the tool with the verified claims in its context
// (identity.FromContext), and records the outcome. Call metadata (the model's tool
// call id, the conversation, prompt and trace ids) travels in the context too, via
// [WithCall].
//
// # What is decided is what runs and what is recorded
//
// A call's arguments are fixed once, at its start: one canonical encoding (the
// arguments' JSON as encoding/json writes it) gives the digest in both audit
// records, the recorded arguments (Options.RecordArgs), the digest an approval
// grant binds, and, for types that can refer to shared memory, the very value
// policy decides on and the tool runs with. Which path an input type takes is
// decided once, at [NewGuard]:
//
//   - A plain value type (no map, slice, pointer, interface, chan or func
//     reachable, in exported fields or not; time.Time counts as a value) is
//     copied when Call receives it; that copy is private to the call and is
//     used as is. This is the cheap path.
//   - A type with reference fields is isolated: its canonical bytes are
//     decoded into a fresh value, and that value is what policy and the tool
//     get. A caller that shares a map, slice or pointer with the arguments and
//     changes it at any moment (from its own MarshalJSON, a verifier, a kill
//     switch, an audit sink, a secret source, or another goroutine synchronized
//     with any of them) changes nothing that was decided, recorded or run; and
//     what the tool writes into its input never reaches the caller.
//   - A type holding an interface, or a type with its own JSON or text
//     marshaling, is normalized: the fresh value is encoded once more and those
//     bytes are the canonical ones, because decoding need not give back what
//     was encoded (a number in an any becomes a float64, a struct in an any a
//     map, an int64 above 2^53 the nearest float64). The digest is then of
//     exactly the value that is decided and run. Bytes a type's own MarshalJSON
//     writes are held to the strict JSON rules below (no duplicate member, no
//     inexact member name), and a value that cannot be decoded from its own
//     encoding is refused.
//
// Arguments holding a string that is not valid UTF-8 (in a field, an element,
// a map key, behind an interface) are refused with [ErrBadArgs]
// (bad_arguments): JSON would write every invalid byte as U+FFFD, so
// "acct-\xff" and "acct-\xfe" would digest, decide and be granted the same.
// So are arguments that are cyclic, nested over 1000 levels, cannot be encoded
// (NaN, a chan) or are over Options.MaxArgsBytes.
//
// [Guard.CallJSON] and [Registry.Call], the entry point of every adapter,
// decode the model's JSON strictly, so that whatever reads the raw JSON
// upstream (a proxy, a gateway, a validator, a log) cannot see other arguments
// than policy does: invalid UTF-8, an escaped lone surrogate, a duplicate
// member name, a member name that matches a field only case-insensitively or
// by Unicode folding ("Amount_Cents", "ſ" for "s"), an unknown member, data
// after the value, extra elements for a fixed-size array, and an integer
// that the float it decodes to (a float field, or any number behind an
// interface) cannot hold exactly (9007199254740993; RFC 7493 §2.2) are all
// bad_arguments. A value the guard decoded itself is private, so it is not
// decoded a second time.
//
// Limits. On the isolating paths the tool gets what the arguments' JSON
// carries: unexported fields and fields tagged json:"-" reach it zeroed (they
// were never decided), and a value behind an interface arrives as a decoded
// JSON value (map[string]any, []any, float64, string, bool), not as the Go
// type the caller put there. A type whose own MarshalJSON and UnmarshalJSON
// disagree is decided as its UnmarshalJSON reads the bytes. Policy reads Go
// fields by their JSON names, so a field type whose MarshalJSON shows other
// content than its fields is recorded as it marshals and decided as its fields
// read. Unsynchronized writes from another goroutine during a call are a data
// race, which Go does not define (on a map, a fatal error no recover
// catches): the guarantee holds for every write ordered before or after any
// point of the call, not for racing ones.
//
// # Controls
//
// A permit's obligations (see package policy) are enforced before the tool runs:
//
//   - Rate limits: token buckets per subject, agent or tenant and tool, built on
//     golang.org/x/time/rate; a denial carries RetryAfter. Buckets that have
//     refilled are dropped, so memory stays bounded; at the bound new keys are
//     refused rather than anyone's limit forgotten.
//   - Budgets: a running sum of a CEL amount over a sliding window, charged
//     before the tool runs.
//   - Reloads: buckets and budget accounts are keyed by what they limit
//     ([LimitKey]: rule id, tool, principal), never by their settings. A policy
//     reload applies its settings to the state already held: a lower max
//     applies to the running sum (1000 spent, new max 800: nothing more until
//     the window frees it), and a new rate or burst reshapes the bucket, its
//     tokens capped at the new burst and never refilled by the reload. Limit: a
//     reload that lengthens a window counts only the charges still held, those
//     inside the old window.
//   - Fleets: the state lives in this process's memory unless
//     [Options].LimitStore names a shared [LimitStore] (PostgreSQL:
//     tools/fleetpg), which makes every instance enforce what one would. A
//     store that cannot answer denies the call with [CodeLimitsUnavailable];
//     whatever the call had taken is given back when it does not go ahead.
//   - Human approval: a call whose permit requires approval runs only under a
//     valid grant: a JWS signed by an approver ([NewGrantIssuer], [MintGrant]),
//     verified with the approvers' keys ([NewGrantVerifier]), bound to the
//     model's subject, the tool and the exact arguments' digest or a CEL
//     constraint, expiring, and single-use unless it is a temporary elevation.
//     Without one the call is denied with [ErrApprovalRequired] and an
//     [ApprovalRequest] is filed in the [Approvals] queue, from which any
//     instance picks up the grant once a human approves. Every use records the
//     approver in the audit event. A single-use grant is spent last, after
//     rate limits, budgets and secrets have all passed, so a later denial
//     never burns a human approval.
//   - Secrets: a [Tool] declares the secrets it needs; their values come from a
//     [SecretSource] only after the call is allowed, reach the tool only through
//     its ctx ([SecretFromContext]), and are scrubbed from its output and error.
//     Audit events name secrets, never their values. Scrubbing works on the
//     output's JSON form and catches every form listed here: the raw value,
//     \u-escaped, hex (either case), URL-escaped, a JSON number holding it
//     (the output is then withheld), and base64 (standard and URL alphabets,
//     padded or not) of any value that contains it, at each of the three byte
//     alignments, which covers []byte fields, also inside any, and Basic auth
//     headers. Limits: a tool that encrypts, compresses, hashes, splits or
//     otherwise transforms a secret defeats any scrubber; base64 of a secret
//     under 3 bytes past its alignment has no stable core; and scrubbing may
//     over-redact text that happens to match a short secret's form. Give
//     secrets only to tools that return them in none of those ways.
//   - Redaction: output paths named by the policy are redacted before the output
//     reaches the model; the audit event lists the paths, not the values. A path
//     is dot-separated JSON member names of the output's JSON form; a step may
//     enter an array with [N] (one element) or [*] (every element):
//     "customers[*].email", or "[*].email" when the output itself is an array.
//     Paths are checked against the Out type when the guard is built and on
//     every reload ([policy.CheckOutputPath]): a path Out's JSON form cannot hold
//     (redact ["email"] on a []customer) is an error naming the rule and where
//     it is written. At run time, where the type is dynamic (any, maps, a
//     MarshalJSON), redaction fails closed: a path whose shape does not match
//     what the output holds (an object step where an array or a scalar is, a
//     key present only in another letter case or as a dotted map key) withholds
//     the output with [ErrRedaction] (code redaction_failed); only an absent
//     member or a null on the way matches nothing.
//
// # Session-aware policy
//
// With a [SessionStore] in Options.Sessions ([*MemorySessions], or
// PostgreSQL in tools/sessionpg), rules may read the call's session and its
// principal's history (the CEL variables session and history). The guard
// keeps them:
//
//   - Labels. A tool declares the labels of its output (Tool.OutputLabels),
//     permits add more (add_labels), and the application labels content that
//     enters the model's context outside tools with [Enforcer.Label]. A call
//     that is allowed and about to run is recorded, with its labels, before
//     the tool runs, so no output is handed over before its labels count. A
//     call refused after policy (rate limit, budget, secret, spent grant,
//     audit failure) may still be recorded: history errs on the side of
//     having seen more.
//   - Concurrency. A call whose rules read history loads it (one store read),
//     decides, and records itself only if the session and principal did not
//     change meanwhile (compare-and-append); if they did, it decides again on
//     the new history, up to 8 times, then is denied with
//     [CodeSessionConflict]. Two concurrent calls can therefore never both
//     pass on the same stale count or label set.
//   - Loss and failure. A history the store dropped (evicted, over its
//     bounds) is denied by every rule that reads it ([CodeHistoryLost],
//     [ErrHistoryLost]): eviction never turns a deny into an allow. A store
//     that fails denies calls whose rules read history, and calls whose output
//     carries labels it cannot record ([CodeSessionUnavailable],
//     [ErrSessionStore]); other calls go ahead. A rule reading the session of
//     a call that names none denies ([CodeSessionRequired]).
//   - Cost. Which tools' rules read history is decided at compile time
//     (policy.Program.Reads); the others never read the store, only record
//     their calls. A policy that reads history does not compile for an
//     enforcer without a store.
//   - Audit. Decision events carry the labels recorded (Event.Labels) and the
//     facts the decision read (Event.History), from which `modelguard policy
//     replay` re-decides.
//
// # Model integrations
//
// [Registry] dispatches calls that arrive as a tool name and JSON arguments
// (MCP, OpenAI and Anthropic tool calls), decoding strictly; [Registry.Visible]
// lists the tools an identity could call.
//
// # Failing closed
//
// Nothing is allowed by default. A missing or invalid token, a forbid rule, no
// permit rule, a rule that fails to evaluate, or an audit record that cannot be
// written all deny with a [*DeniedError], and the tool does not run. The error
// matches a sentinel ([ErrUnauthenticated], [ErrForbidden], [ErrPolicy],
// [ErrAuditFailed]) and its cause with errors.Is, and carries a stable reason code.
// If the outcome record cannot be written after the tool ran, the output is
// withheld. A panic in the tool is recovered, recorded and returned as
// [ErrToolPanic]; the tool's own errors are returned unchanged.
//
// # Every decided call has an outcome record
//
// A call whose decision was recorded as an allow always gets exactly one
// outcome record with the same call id, whatever the tool does: it returns
// (outcome ok, with the digest of exactly the output the caller gets; CallJSON
// returns the very bytes that digest is of, so the output's MarshalJSON runs
// once), fails (error), panics (panic), or calls runtime.Goexit (panic: the
// record is written as the goroutine unwinds, and Call does not return, as
// Goexit demands). An output that cannot be encoded or cleaned (NaN or ±Inf, a
// chan, a MarshalJSON that panics, fails or writes invalid JSON, a redaction
// path that does not fit) is withheld with [ErrBadOutput] or [ErrRedaction],
// recorded as an error with no output digest, never as ok. A call whose ctx is
// done once its decision is recorded does not run the tool: its outcome is
// recorded as denied with error type not_run, and the error matches the ctx's.
// Limits: a process that dies (os.Exit, a fatal runtime error such as a
// concurrent map write, an unrecoverable stack overflow in the tool) records
// nothing more; a tool that never returns never gets an outcome.
//
// # Zero values and typed nils
//
// No exported function or method of tools, policy, audit or identity panics
// when given zero values or typed nils, as arguments or as receivers: a zero
// or nil [Enforcer], [Guard], [Registry], [MemoryApprovals] (and the types of
// the other packages built by constructors) returns an error matching
// [ErrNotReady] (audit.ErrNotReady, identity.ErrConfig) and runs nothing;
// [NewEnforcer] refuses a typed-nil verifier or sink and an unbuilt
// policy.Set; accessors answer empty. A test calls every exported function and
// method this way, listing them from the source, so new ones are held to it.
package tools
