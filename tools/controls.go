package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
)

// Control errors.
var (
	// ErrRateLimited: the call exceeds a rate limit; DeniedError.RetryAfter says
	// when to try again.
	ErrRateLimited = errors.New("tools: rate limited")
	// ErrBudgetExceeded: the call would exceed a budget; DeniedError.RetryAfter
	// says when enough of the window will have passed (0: never, for this amount).
	ErrBudgetExceeded = errors.New("tools: budget exceeded")
	// ErrLimitsUnavailable: the store of rate limits and budgets
	// ([Options.LimitStore]) could not answer (it is down, or timed out); the
	// call is denied.
	ErrLimitsUnavailable = errors.New("tools: limits unavailable")
)

// ApprovalOptions configure human approval. Without a Verifier, a call whose
// permit requires approval is always denied.
type ApprovalOptions struct {
	// Verifier checks grants: signature, approver issuer, audience, expiry (see
	// [NewGrantVerifier]).
	Verifier Verifier
	// Queue files approval requests and finds approved grants; nil means grants
	// only come with the call (see [WithGrant]).
	Queue Approvals
	// Used spends single-use grants: the one-time-use store token replay uses
	// ([identity.Store]), keyed by the grant's issuer (prefixed "grant:", so
	// grant and token ids never meet) and jti. Nil means a bounded in-process
	// [identity.MemoryStore]; instances that share a queue must share this too
	// (identity/postgres), or a grant could be spent once on each.
	Used identity.Store
}

type grantKey struct{}

// WithGrant returns a copy of ctx carrying an approval grant for the next guarded
// calls. Grants can also come from the approval queue.
func WithGrant(ctx context.Context, grant string) context.Context {
	if ctx == nil { // context.WithValue panics on a nil parent; a nil ctx here is the background
		ctx = context.Background()
	}
	return context.WithValue(ctx, grantKey{}, grant)
}

// controls is what a call's allowed decision set in motion; undo releases it if
// the call does not go ahead after all.
type controls struct {
	undo    []func()
	secrets *secrets
}

func (c *controls) release() {
	for _, u := range c.undo {
		u()
	}
}

// findGrants returns the grants that cover this call, verified, from ctx and from
// the queue, and the reasons others were rejected.
func (g *Guard[In, Out]) findGrants(ctx context.Context, prog *policy.Program, claims *identity.Claims, c *call, in policy.Input) ([]*grant, []string) {
	opts := g.e.opts.Approvals
	if opts.Verifier == nil {
		return nil, []string{"no grant verifier configured"}
	}
	var toks []string
	if t, ok := ctx.Value(grantKey{}).(string); ok && t != "" {
		toks = append(toks, t)
	}
	if opts.Queue != nil {
		more, err := opts.Queue.Grants(ctx, claims.Issuer, claims.Subject, g.tool.Name)
		if err != nil {
			return nil, []string{"approval queue: " + err.Error()}
		}
		toks = append(toks, more...)
	}
	var found []*grant
	var why []string
	for _, t := range toks {
		gc, err := opts.Verifier.Verify(ctx, t)
		if err != nil {
			why = append(why, "grant rejected: "+err.Error())
			continue
		}
		gr, err := parseGrant(gc)
		if err == nil {
			err = gr.applies(ctx, prog, claims, g.tool.Name, c.ev.ArgsDigest, in)
		}
		if err != nil {
			why = append(why, fmt.Sprintf("grant %s: %v", gc.ID, err))
			continue
		}
		found = append(found, gr)
	}
	return found, why
}

// elevated is a grant that covers the call and the decision under it.
type elevated struct {
	d  policy.Decision
	gr *grant
}

// elevate looks for grants when the decision needs one (approval) or could be
// changed by one (nothing permits). It decides again with each grant that
// covers the call visible to CEL as grant and returns, in order, those under
// which the policy allows the call, and the decision under the first. Nothing
// is spent here: [Guard.applyGranted] spends a single-use grant only after every
// other control has passed. A forbid is never elevated.
func (g *Guard[In, Out]) elevate(ctx context.Context, prog *policy.Program, claims *identity.Claims, c *call, in policy.Input, d policy.Decision) (policy.Decision, []elevated, []string) {
	needs := d.Allowed && d.Obligations.Approval
	could := !d.Allowed && len(d.Rules) == 0 && len(d.Errors) == 0
	if !needs && !could {
		return d, nil, nil
	}
	if g.e.opts.Approvals.Verifier == nil && !needs {
		return d, nil, nil
	}
	grants, why := g.findGrants(ctx, prog, claims, c, in)
	var cands []elevated
	for _, gr := range grants {
		in.Grant = gr.policyGrant()
		d2 := prog.Decide(ctx, in)
		if !d2.Allowed {
			why = append(why, gr.String()+": the policy does not allow the call under it")
			continue
		}
		cands = append(cands, elevated{d2, gr})
	}
	if len(cands) > 0 {
		return cands[0].d, cands, why
	}
	return d, nil, why
}

// applyGranted applies the controls of the decision and then, last, spends the
// grant it runs under, so that a rate limit, budget or missing secret never
// burns a human approval. If a single-use grant cannot be spent (used
// meanwhile), the controls are given back and the next candidate is tried; when
// none is left the call is decided as without a grant (base).
func (g *Guard[In, Out]) applyGranted(ctx context.Context, c *call, claims *identity.Claims, in *In, base policy.Decision, cands []elevated, why []string) (*controls, *DeniedError) {
	if len(cands) == 0 {
		return g.apply(ctx, claims, base)
	}
	for _, cand := range cands {
		ctl, de := g.apply(ctx, claims, cand.d)
		if de != nil {
			return nil, de
		}
		if err := g.spend(ctx, cand.gr); err != nil {
			ctl.release()
			why = append(why, cand.gr.String()+": "+err.Error())
			continue
		}
		c.decided(cand.d)
		c.ev.Grant = &audit.GrantUse{ID: cand.gr.claims.ID, Approver: cand.gr.approver, Request: cand.gr.request}
		return ctl, nil
	}
	c.decided(base)
	if base.Allowed {
		return nil, g.requestApproval(ctx, c, claims, in, base, why)
	}
	de := decisionDenial(base)
	de.Reasons = append(slices.Clip(de.Reasons), why...)
	c.ev.Reasons = de.Reasons
	return nil, de
}

// requestApproval files an approval request for a call that needs one and
// returns the denial that carries it.
func (g *Guard[In, Out]) requestApproval(ctx context.Context, c *call, claims *identity.Claims, in *In, d policy.Decision, why []string) *DeniedError {
	de := newDenial(CodeApprovalRequired, nil, "this call needs human approval", append([]string{"no valid approval grant"}, why...)...)
	de.Rules = d.Rules
	q := g.e.opts.Approvals.Queue
	if q == nil {
		return de
	}
	args := c.args // the canonical bytes the digest is of, when the snapshot made them
	if args == nil {
		args, _ = json.Marshal(in)
	}
	req, err := q.Request(ctx, ApprovalRequest{Time: g.e.now(), Issuer: claims.Issuer, Subject: claims.Subject,
		Agent: claims.Agent, Tenant: claims.Tenant, Tool: g.tool.Name, ArgsDigest: c.ev.ArgsDigest, Args: args,
		Reason: "policy rules " + fmt.Sprint(d.Rules) + " require approval", Rules: d.Rules})
	if err != nil {
		de.Reasons = append(de.Reasons, "approval request not filed: "+err.Error())
		return de
	}
	de.Approval = &req
	de.Messages = []string{"this call needs human approval; request " + req.ID + " is pending"}
	return de
}

// apply enforces an allowed decision's obligations in an order that can be
// undone: rate limits, budgets, then secrets.
func (g *Guard[In, Out]) apply(ctx context.Context, claims *identity.Claims, d policy.Decision) (*controls, *DeniedError) {
	ctl := &controls{}
	now := g.e.now()
	for _, rl := range d.Obligations.Limits {
		k := LimitKey{Rule: rl.Rule, Tool: g.tool.Name, Principal: keyFor(rl.Limit.Per, claims)}
		undo, retry, err := g.e.limits.Take(ctx, k, rl.Limit, now)
		if undo == nil {
			ctl.release()
			if err != nil || retry < 0 {
				return nil, limitsUnavailable(rl.Rule, err)
			}
			de := newDenial(CodeRateLimited, nil, retryMessage("rate limit reached", retry), "rate limit of rule "+rl.Rule)
			de.Rules, de.RetryAfter = []string{rl.Rule}, retry
			return nil, de
		}
		ctl.undo = append(ctl.undo, undo)
	}
	for _, rb := range d.Obligations.Budgets {
		k := LimitKey{Rule: rb.Rule, Principal: keyFor(rb.Budget.Per, claims)}
		undo, retry, err := g.e.limits.Charge(ctx, k, rb.Budget, rb.Amount, now)
		if undo == nil {
			ctl.release()
			if err != nil || retry < 0 {
				return nil, limitsUnavailable(rb.Rule, err)
			}
			de := newDenial(CodeBudgetExceeded, nil, retryMessage("budget exceeded", retry),
				fmt.Sprintf("budget of rule %s: %v over %v would exceed %v", rb.Rule, rb.Amount, rb.Budget.Window, rb.Budget.Max))
			de.Rules, de.RetryAfter = []string{rb.Rule}, retry
			return nil, de
		}
		ctl.undo = append(ctl.undo, undo)
	}
	sec, err := fetchSecrets(ctx, g.e.opts.Secrets, g.tool.Secrets)
	if err != nil {
		ctl.release()
		return nil, newDenial(CodeSecretUnavailable, err, "a secret the tool needs is unavailable", err.Error())
	}
	ctl.secrets = sec
	return ctl, nil
}

// spend uses a grant: reusable ones may be used until they expire; single-use
// ones only once, recorded in ApprovalOptions.Used until well after the grant
// verifier could still accept them (expiry plus the largest leeway a verifier
// allows).
func (g *Guard[In, Out]) spend(ctx context.Context, gr *grant) error {
	if gr.reusable {
		return nil
	}
	err := g.e.opts.Approvals.Used.Use(ctx, "grant:"+gr.claims.Issuer, gr.claims.ID, gr.claims.Expiry.Add(identity.MaxLeeway))
	if errors.Is(err, identity.ErrReplay) {
		return ErrGrantUsed
	}
	return err
}

// limitsUnavailable is the denial of a call whose limit or budget the store
// could not answer for (an error, or an answer that makes no sense).
func limitsUnavailable(rule string, err error) *DeniedError {
	if err == nil {
		err = errors.New("the limit store returned a negative retry")
	}
	de := newDenial(CodeLimitsUnavailable, err, "rate limits and budgets cannot be checked", "limits of rule "+rule+": "+err.Error())
	de.Rules = []string{rule}
	return de
}

func retryMessage(what string, retry time.Duration) string {
	if retry <= 0 {
		return what
	}
	return fmt.Sprintf("%s; retry after %v", what, retry.Round(time.Millisecond))
}
