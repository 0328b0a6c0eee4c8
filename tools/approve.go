package tools

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/modelguard/modelguard/identity"
)

// ErrSelfApproval: the approver is the subject the request was filed under. No
// one approves their own request.
var ErrSelfApproval = errors.New("tools: an approver cannot approve a request made under their own subject")

// Answer is a human's approval of one pending request, for [ApproveRequest].
type Answer struct {
	// Approver is the human's verified subject (recorded in the grant and in
	// every use of it). Required.
	Approver string
	// Audience of the guards that verify the grant. Required.
	Audience []string
	// Expiry is when the grant ends; the grant issuer's TTL from now when zero.
	Expiry time.Time
	// Elevate signs a reusable grant (temporary elevation) scoped by Tools and
	// Constraint instead of a single-use grant bound to the request's arguments
	// digest.
	Elevate bool
	// Tools an elevation covers (names or globs); the request's tool when empty.
	Tools []string
	// Constraint is a CEL bool expression the call must meet (elevations).
	Constraint string
}

// GrantForRequest signs the grant that answers req: by default single-use and
// bound to req's tool and exact arguments digest; with a.Elevate reusable and
// scoped by a.Tools and a.Constraint. It is the one signing path of the CLI
// (`modelguard approve grant`) and the operator console. It refuses an
// approver who is req's subject ([ErrSelfApproval]).
func GrantForRequest(iss *identity.Issuer, req ApprovalRequest, a Answer) (string, error) {
	if iss == nil {
		return "", errors.New("tools: no grant issuer")
	}
	if a.Approver == "" || len(a.Audience) == 0 {
		return "", errors.New("tools: an approval needs an approver and the guards' audience")
	}
	if a.Approver == req.Subject {
		return "", ErrSelfApproval
	}
	spec := GrantSpec{ModelIssuer: req.Issuer, Subject: req.Subject, Audience: a.Audience,
		Tools: []string{req.Tool}, Approver: a.Approver, Request: req.ID, Expiry: a.Expiry}
	if a.Elevate {
		spec.Reusable, spec.Constraint = true, a.Constraint
		if len(a.Tools) > 0 {
			spec.Tools = a.Tools
		}
	} else {
		if req.ArgsDigest == "" {
			return "", errors.New("tools: the request has no arguments digest to bind a single-use grant to")
		}
		spec.ArgsDigest, spec.Constraint = req.ArgsDigest, a.Constraint
	}
	return MintGrant(iss, spec)
}

// ApproveRequest looks up the pending request id in q, signs its grant with
// [GrantForRequest] and marks it approved, so that every guard on the queue
// finds the grant. It returns the request as it was before approval.
func ApproveRequest(ctx context.Context, q ApprovalQueue, iss *identity.Issuer, id string, a Answer) (ApprovalRequest, error) {
	if isNil(q) {
		return ApprovalRequest{}, errors.New("tools: no approval queue")
	}
	req, err := q.Get(ctx, id)
	if err != nil {
		return ApprovalRequest{}, err
	}
	if req.Status != StatusPending {
		return req, fmt.Errorf("%w: %s is %s", ErrDecided, id, req.Status)
	}
	g, err := GrantForRequest(iss, req, a)
	if err != nil {
		return req, err
	}
	if err := q.Approve(ctx, id, a.Approver, g); err != nil {
		return req, err
	}
	return req, nil
}
