package tools

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
)

// Verifier verifies a raw identity token. [*identity.Verifier] implements it.
type Verifier interface {
	Verify(ctx context.Context, token string) (*identity.Claims, error)
}

// Options configure an [Enforcer]. The zero value is valid.
type Options struct {
	// Now is the clock for audit times and request.time; default time.Now.
	Now func() time.Time
}

// Enforcer holds what every guard shares: the verifier, the policy and the audit
// sink. Build one per application and wrap each tool with [NewGuard] or [Wrap]. An
// Enforcer is safe for concurrent use.
type Enforcer struct {
	verifier Verifier
	policy   *policy.Set
	sink     audit.Sink
	now      func() time.Time
	idPrefix string
	ids      atomic.Uint64
}

// NewEnforcer returns an Enforcer. The verifier, policy and sink are all required:
// there is no mode without authentication, policy or audit.
func NewEnforcer(v Verifier, p *policy.Set, sink audit.Sink, opts Options) (*Enforcer, error) {
	var errs []error
	if v == nil {
		errs = append(errs, errors.New("tools: nil verifier"))
	}
	if p == nil {
		errs = append(errs, errors.New("tools: nil policy set"))
	}
	if sink == nil {
		errs = append(errs, errors.New("tools: nil audit sink"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	return &Enforcer{verifier: v, policy: p, sink: sink, now: now, idPrefix: hex.EncodeToString(b[:]) + "-"}, nil
}

// nextIDs returns a fresh call id and the ids of its decision and outcome
// events, unique to this enforcer and, with its random prefix, across processes
// in practice. One buffer serves all three.
func (e *Enforcer) nextIDs() (call, decision, outcome string) {
	var buf [64]byte
	b := strconv.AppendUint(append(buf[:0], e.idPrefix...), e.ids.Add(1), 10)
	n := len(b)
	b = append(b, ".d.o"...)
	s := string(b)
	return s[:n], s[:n+2], s[:n] + s[n+2:]
}

// authenticate returns the verified claims of the token in ctx.
func (e *Enforcer) authenticate(ctx context.Context) (*identity.Claims, error) {
	tok, ok := identity.TokenFromContext(ctx)
	if !ok {
		return nil, identity.ErrNoToken
	}
	return e.verifier.Verify(ctx, tok)
}

// identityOf is the audit view of claims: never the token.
func identityOf(c *identity.Claims) audit.Identity {
	if c == nil {
		return audit.Identity{}
	}
	id := audit.Identity{
		Issuer: c.Issuer, Subject: c.Subject, TokenID: c.ID, Agent: c.Agent,
		Tenant: c.Tenant, Env: c.Env, ModelProvider: c.Model.Provider,
		ModelName: c.Model.Name, ModelVersion: c.Model.Version, Scopes: c.Scopes,
	}
	for _, a := range c.Act {
		id.Act = append(id.Act, a.Subject)
	}
	return id
}
