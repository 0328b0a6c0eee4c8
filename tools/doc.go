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
//	getTicket, err := tools.Wrap(enf, tools.Tool{Name: "tickets.get"}, getTicket)
//
// Wrapping compiles the rules that cover the tool against its input type: a rule
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
package tools
