package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrSessionMismatch: a request came on a session that another identity
// opened.
var ErrSessionMismatch = errors.New("tools: session belongs to another identity")

// ErrInsufficientScope: no rule permits the call with the token's scopes, but
// a rule would with more; [DeniedError.Scopes] names them (step-up, RFC 6750
// §3.1). It also matches ErrForbidden.
var ErrInsufficientScope = fmt.Errorf("%w: insufficient scope", ErrForbidden)

// DenyHidden records, and returns, the denial of a call to a tool r holds but
// hides from the identity in ctx (no rule could permit it; see [Registry.Visible]),
// refused before its guard runs so that it cannot run. The model is told what
// it is told of a tool r does not hold (CodeUnknownTool), so a hidden tool's
// existence does not leak; the audit event says it was hidden.
func (r *Registry) DenyHidden(ctx context.Context, name string, args json.RawMessage) error {
	if err := r.ready(); err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	return r.e.refuse(ctx, name, args, newDenial(CodeUnknownTool, nil, "no such tool", "tool hidden from this identity"))
}

// DenySession records, and returns, the refusal of a request made by the
// identity in ctx on a session that another identity opened (owner describes
// it, for the operator). The session id travels in ctx (see [WithCall]).
func (r *Registry) DenySession(ctx context.Context, owner string) error {
	if err := r.ready(); err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	return r.e.refuse(ctx, "", nil, newDenial(CodeSessionMismatch, nil, "this session belongs to another identity", "session opened by "+owner))
}
