package tools

import (
	"errors"
	"strings"
	"time"
)

// Sentinel errors a guarded call may be denied with. A denial is always a
// [*DeniedError], which matches one of these with errors.Is (and the underlying
// cause, such as identity.ErrExpired, too).
var (
	// ErrUnauthenticated: no identity token in the context, or it failed
	// verification.
	ErrUnauthenticated = errors.New("tools: unauthenticated")
	// ErrForbidden: the policy did not allow the call, because a forbid rule matched
	// or no permit rule did.
	ErrForbidden = errors.New("tools: forbidden")
	// ErrPolicy: a rule covering the tool failed to evaluate; the call is denied.
	ErrPolicy = errors.New("tools: policy evaluation failed")
	// ErrAuditFailed: the audit event could not be recorded. Before the tool ran,
	// the call is denied; after, the output is withheld.
	ErrAuditFailed = errors.New("tools: audit record failed")
	// ErrToolPanic: the tool panicked; the guard recovered and recorded it.
	ErrToolPanic = errors.New("tools: tool panicked")
	// ErrBadArgs: the arguments cannot be encoded, or exceed Options.MaxArgsBytes.
	ErrBadArgs = errors.New("tools: arguments rejected")
	// ErrBadOutput: the tool's output could not be encoded (its MarshalJSON
	// failed or panicked, or it holds NaN): it cannot be digested, so it is
	// withheld and the outcome records why.
	ErrBadOutput = errors.New("tools: output could not be encoded")
	// ErrNotReady: an Enforcer, Guard or Registry was used without being built
	// by its constructor (a zero value or a nil pointer). Nothing runs.
	ErrNotReady = errors.New("tools: not built by its constructor")
)

// DeniedError is returned by a guarded call that the guard stopped. The tool's own
// errors are returned unchanged, never as a DeniedError.
//
// It speaks on two channels. Error() is what the model may see: the tool, a
// stable reason code and the deciding rules' own messages, nothing that names a
// rule or another tool, so denials cannot be used to map the policy. Rules,
// Reasons and Cause are the full explanation, for the operator and the audit log.
// Error() is the one message of package tools that begins "modelguard:" rather
// than "tools:": it is a product's answer to a model (and read in transcripts),
// not a Go error to be wrapped.
//
// A DeniedError is built from its Code alone (the table in codes.go gives its
// sentinel, HTTP status and JSON-RPC answer), so Code and Err always agree.
type DeniedError struct {
	Tool     string   // the tool that was called
	Code     Code     // stable reason code: says which sentinel Err is
	Messages []string // the deciding rules' messages: safe for the model
	Rules    []string // ids of the rules that decided, if any
	Reasons  []string // the full explanation, for the operator
	Err      error    // the sentinel (ErrForbidden, …)
	Cause    error    // the underlying error, if any (e.g. a verification error)
	// RetryAfter, for a rate limit or budget, is when the call may succeed.
	RetryAfter time.Duration
	// Approval is the approval request filed for a call that needs one.
	Approval *ApprovalRequest
	// Scopes, for CodeInsufficientScope, are every scope the call needs
	// (policy.Decision.Scopes): a token that has them may be permitted.
	Scopes []string
}

func (e *DeniedError) Error() string {
	if e == nil {
		return "modelguard: call denied"
	}
	var b strings.Builder
	b.WriteString("modelguard: call to ")
	b.WriteString(e.Tool)
	b.WriteString(" denied (")
	b.WriteString(string(e.Code))
	b.WriteString(")")
	if len(e.Messages) > 0 {
		b.WriteString(": ")
		b.WriteString(strings.Join(e.Messages, "; "))
	}
	return b.String()
}

// Unwrap returns the sentinel and the cause, so errors.Is matches either.
func (e *DeniedError) Unwrap() []error {
	if e == nil {
		return nil
	}
	if e.Cause == nil {
		return []error{e.Err}
	}
	return []error{e.Err, e.Cause}
}
