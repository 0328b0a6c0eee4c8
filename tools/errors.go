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
	ErrUnauthenticated = errors.New("modelguard: unauthenticated")
	// ErrForbidden: the policy did not allow the call, because a forbid rule matched
	// or no permit rule did.
	ErrForbidden = errors.New("modelguard: forbidden")
	// ErrPolicy: a rule covering the tool failed to evaluate; the call is denied.
	ErrPolicy = errors.New("modelguard: policy evaluation failed")
	// ErrAuditFailed: the audit event could not be recorded. Before the tool ran,
	// the call is denied; after, the output is withheld.
	ErrAuditFailed = errors.New("modelguard: audit record failed")
	// ErrToolPanic: the tool panicked; the guard recovered and recorded it.
	ErrToolPanic = errors.New("modelguard: tool panicked")
	// ErrBadArgs: the arguments cannot be encoded, or exceed Options.MaxArgsBytes.
	ErrBadArgs = errors.New("modelguard: arguments rejected")
	// ErrBadOutput: the tool's output could not be encoded (its MarshalJSON
	// failed or panicked, or it holds NaN): it cannot be digested, so it is
	// withheld and the outcome records why.
	ErrBadOutput = errors.New("modelguard: output could not be encoded")
	// ErrNotReady: an Enforcer, Guard or Registry was used without being built
	// by its constructor (a zero value or a nil pointer). Nothing runs.
	ErrNotReady = errors.New("modelguard: not built by its constructor")
)

// Reason codes of a [DeniedError]: stable strings that are safe to show to a model
// and to match on in audit queries.
const (
	CodeUnauthenticated = "unauthenticated"
	CodeForbidden       = "forbidden"
	CodeNoPermit        = "no_permit"
	CodePolicyError     = "policy_error"
	CodeAuditFailed     = "audit_failed"
	CodeBadArgs         = "bad_arguments"
	CodeBadOutput       = "bad_output"
)

// DeniedError is returned by a guarded call that the guard stopped. The tool's own
// errors are returned unchanged, never as a DeniedError.
//
// It speaks on two channels. Error() is what the model may see: the tool, a
// stable reason code and the deciding rules' own messages, nothing that names a
// rule or another tool, so denials cannot be used to map the policy. Rules,
// Reasons and Cause are the full explanation, for the operator and the audit log.
type DeniedError struct {
	Tool     string   // the tool that was called
	Code     string   // stable reason code (Code… constants)
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
	b.WriteString(e.Code)
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
