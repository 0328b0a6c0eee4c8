package tools

import (
	"errors"
	"net/http"
	"slices"
)

// Code is the stable reason code of a denial: safe to show to a model, to
// match on in audit queries (it is the event's "code"), and the one key to how
// the denial is answered. Each code has exactly one row in the table behind
// [Code.Err], [Code.HTTPStatus] and [Code.JSONRPCCode]; every [*DeniedError]
// is built from it, so its sentinel and its code cannot disagree.
type Code string

// Reason codes. The string values are stable: they are written to audit logs.
const (
	// CodeUnauthenticated: no identity token, or it failed verification.
	CodeUnauthenticated Code = "unauthenticated"
	// CodeForbidden: a forbid rule matched.
	CodeForbidden Code = "forbidden"
	// CodeNoPermit: no permit rule matched (nothing is allowed by default).
	CodeNoPermit Code = "no_permit"
	// CodePolicyError: a rule covering the tool failed to evaluate.
	CodePolicyError Code = "policy_error"
	// CodeAuditFailed: an audit record could not be written.
	CodeAuditFailed Code = "audit_failed"
	// CodeBadArgs: the arguments were refused before the decision.
	CodeBadArgs Code = "bad_arguments"
	// CodeBadOutput: the tool's output could not be encoded; it is withheld.
	CodeBadOutput Code = "bad_output"
	// CodeRedactionFailed: the output could not be redacted; it is withheld.
	CodeRedactionFailed Code = "redaction_failed"
	// CodeApprovalRequired: the call waits for a human approval grant.
	CodeApprovalRequired Code = "approval_required"
	// CodeRateLimited: a rate limit covering the call is spent.
	CodeRateLimited Code = "rate_limited"
	// CodeBudgetExceeded: the call would exceed a budget.
	CodeBudgetExceeded Code = "budget_exceeded"
	// CodeSecretUnavailable: a secret the call needs could not be resolved.
	CodeSecretUnavailable Code = "secret_unavailable"
	// CodeKilled: a kill switch covering the call is active.
	CodeKilled Code = "killed"
	// CodeKillSwitchUnavailable: the kill switch could not be checked.
	CodeKillSwitchUnavailable Code = "kill_switch_unavailable"
	// CodeLimitsUnavailable: the store of rate limits and budgets could not
	// answer.
	CodeLimitsUnavailable Code = "limits_unavailable"
	// CodeUnknownTool: the registry has no tool of that name (or hides it from
	// this identity).
	CodeUnknownTool Code = "unknown_tool"
	// CodeSessionMismatch: the request came on a session another identity
	// opened.
	CodeSessionMismatch Code = "session_mismatch"
	// CodeInsufficientScope: a rule would permit the call with more scopes
	// (step-up; DeniedError.Scopes names them).
	CodeInsufficientScope Code = "insufficient_scope"
	// CodeHistoryLost: a rule reads history the session store no longer holds.
	CodeHistoryLost Code = "history_lost"
	// CodeSessionUnavailable: the session store failed.
	CodeSessionUnavailable Code = "session_unavailable"
	// CodeSessionConflict: the session changed under the call, again and again.
	CodeSessionConflict Code = "session_conflict"
	// CodeSessionRequired: a rule reads the session, and the call names none.
	CodeSessionRequired Code = "session_required"
)

// JSONRPCInvalidParams is the JSON-RPC 2.0 error code (§5.1) that MCP uses for
// a call to an unknown tool (MCP 2025-11-25, server/tools "Error Handling").
const JSONRPCInvalidParams = -32602

// codeRow is how one code is answered. jsonrpc 0 means: not a protocol
// error, but a tool result with isError set, whose text is the model-facing
// [DeniedError.Error] (MCP 2025-11-25 server/tools: tool execution errors,
// input validation errors among them, are reported in the result so the
// model can correct itself).
type codeRow struct {
	err     error
	http    int
	jsonrpc int
}

// codeTable is the one table of reason codes. An edge that answers a denial
// (HTTP, MCP, JSON-RPC) reads it through the Code methods; a code not in it
// is answered as forbidden.
var codeTable = map[Code]codeRow{
	CodeUnauthenticated:       {ErrUnauthenticated, http.StatusUnauthorized, 0},
	CodeForbidden:             {ErrForbidden, http.StatusForbidden, 0},
	CodeNoPermit:              {ErrForbidden, http.StatusForbidden, 0},
	CodePolicyError:           {ErrPolicy, http.StatusForbidden, 0},
	CodeAuditFailed:           {ErrAuditFailed, http.StatusServiceUnavailable, 0},
	CodeBadArgs:               {ErrBadArgs, http.StatusBadRequest, 0},
	CodeBadOutput:             {ErrBadOutput, http.StatusBadGateway, 0},
	CodeRedactionFailed:       {ErrRedaction, http.StatusBadGateway, 0},
	CodeApprovalRequired:      {ErrApprovalRequired, http.StatusForbidden, 0},
	CodeRateLimited:           {ErrRateLimited, http.StatusTooManyRequests, 0},
	CodeBudgetExceeded:        {ErrBudgetExceeded, http.StatusTooManyRequests, 0},
	CodeSecretUnavailable:     {ErrSecret, http.StatusServiceUnavailable, 0},
	CodeKilled:                {ErrKilled, http.StatusForbidden, 0},
	CodeKillSwitchUnavailable: {ErrKillSwitchUnavailable, http.StatusServiceUnavailable, 0},
	CodeLimitsUnavailable:     {ErrLimitsUnavailable, http.StatusServiceUnavailable, 0},
	CodeUnknownTool:           {ErrUnknownTool, http.StatusNotFound, JSONRPCInvalidParams},
	CodeSessionMismatch:       {ErrSessionMismatch, http.StatusForbidden, 0},
	// RFC 6750 §3.1: insufficient_scope is a 403 with a challenge naming the
	// scopes.
	CodeInsufficientScope:  {ErrInsufficientScope, http.StatusForbidden, 0},
	CodeHistoryLost:        {ErrHistoryLost, http.StatusForbidden, 0},
	CodeSessionUnavailable: {ErrSessionStore, http.StatusServiceUnavailable, 0},
	CodeSessionConflict:    {ErrSessionConflict, http.StatusConflict, 0},
	CodeSessionRequired:    {ErrNoSession, http.StatusForbidden, 0},
}

func (c Code) row() codeRow {
	if r, ok := codeTable[c]; ok {
		return r
	}
	return codeTable[CodeForbidden]
}

// Known reports whether c is one of the codes above.
func (c Code) Known() bool {
	_, ok := codeTable[c]
	return ok
}

// Err returns the sentinel a denial with this code matches with errors.Is
// (ErrForbidden for CodeForbidden and CodeNoPermit, and for a code not known).
func (c Code) Err() error { return c.row().err }

// HTTPStatus is the status an HTTP edge answers a denial with this code
// with: 401 for unauthenticated (with a WWW-Authenticate challenge, RFC 6750
// §3), 429 for rate limits and budgets (with Retry-After, RFC 9110 §10.2.3),
// 503 where a dependency of the guard is down, 403 for every other refusal.
func (c Code) HTTPStatus() int { return c.row().http }

// JSONRPCCode is the JSON-RPC error code a protocol edge answers a denial with
// this code with, or 0 when the denial is answered as a tool result with
// isError set (every code but CodeUnknownTool).
func (c Code) JSONRPCCode() int { return c.row().jsonrpc }

// Codes returns every known code, sorted.
func Codes() []Code {
	cs := make([]Code, 0, len(codeTable))
	for c := range codeTable {
		cs = append(cs, c)
	}
	slices.Sort(cs)
	return cs
}

// CodeOf returns the code of the [*DeniedError] in err's chain, or "" when
// err is not a denial (nil, or a tool's own error).
func CodeOf(err error) Code {
	var de *DeniedError
	if errors.As(err, &de) && de != nil {
		return de.Code
	}
	return ""
}

// newDenial is the one constructor of a [*DeniedError]: its sentinel comes
// from the code's row, so the two cannot be paired wrongly. message, unless
// empty, is the model-facing text; reasons are the operator's.
func newDenial(code Code, cause error, message string, reasons ...string) *DeniedError {
	de := &DeniedError{Code: code, Err: code.Err(), Cause: cause}
	if message != "" {
		de.Messages = []string{message}
	}
	if len(reasons) > 0 {
		de.Reasons = reasons
	}
	return de
}
