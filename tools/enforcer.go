package tools

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"sync"
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
	// MaxArgsBytes bounds the JSON size of a call's arguments; larger calls are
	// denied before policy evaluation. Default 1 MiB.
	MaxArgsBytes int
	// RecordArgs puts the arguments' JSON in each decision event, besides their
	// digest, so that `modelguard policy replay` can re-decide recorded calls.
	// Off by default: arguments may hold data the audit log should not.
	RecordArgs bool
	// RecordOutput puts the output's JSON, after redaction and secret scrubbing,
	// in each outcome event, so the log shows what the model saw and not only
	// its digest. Off by default.
	RecordOutput bool
	// Approvals configures human approval grants; see [ApprovalOptions].
	Approvals ApprovalOptions
	// Secrets is where the secrets tools declare come from.
	Secrets SecretSource
	// Limits bounds the memory of rate limits and budgets.
	Limits LimitOptions
	// LimitStore keeps the state of rate limits and budgets; nil means in
	// this process's memory, bounded by Limits. Set a shared one (see
	// tools/fleetpg) for a fleet of instances to enforce what one would.
	LimitStore LimitStore
	// Kill is checked on every call before policy (see [KillSwitch]); nil
	// means no kill switch.
	Kill KillSwitch
	// Sessions keeps session and principal history for session-aware policy
	// (the CEL variables session and history) and records the labels of what
	// the model saw; nil means none, and a policy whose rules read history
	// does not compile.
	Sessions SessionStore
}

// Enforcer holds what every guard shares: the verifier, the policy and the audit
// sink. Build one per application and wrap each tool with [NewGuard] or [Wrap]. An
// Enforcer is safe for concurrent use.
type Enforcer struct {
	verifier Verifier
	sink     audit.Sink
	now      func() time.Time
	opts     Options
	limits   LimitStore
	idPrefix string
	ids      atomic.Uint64

	mu    sync.Mutex // serialises guard registration and policy swaps
	tools []policy.Tool
	gen   atomic.Pointer[generation]
}

// generation is one policy set compiled for every registered guard. A call loads
// the current generation once and finishes on it, whatever swaps happen meanwhile.
type generation struct {
	set   *policy.Set
	progs []*policy.Program // indexed by guard registration order
}

// NewEnforcer returns an Enforcer. The verifier, policy and sink are all required:
// there is no mode without authentication, policy or audit.
func NewEnforcer(v Verifier, p *policy.Set, sink audit.Sink, opts Options) (*Enforcer, error) {
	var errs []error
	if isNil(v) {
		errs = append(errs, errors.New("tools: nil verifier"))
	}
	if p == nil {
		errs = append(errs, errors.New("tools: nil policy set"))
	} else if err := p.Ready(); err != nil {
		errs = append(errs, fmt.Errorf("tools: policy set: %w", err))
	}
	if isNil(sink) {
		errs = append(errs, errors.New("tools: nil audit sink"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if isNil(opts.Sessions) {
		opts.Sessions = nil // a typed nil store is no store
	}
	if isNil(opts.Approvals.Used) {
		// Single-use grants are spent in process unless a shared store is
		// given; the same bounded one-time-use store that token replay uses.
		opts.Approvals.Used = identity.NewMemoryStore(identity.MemoryStoreOptions{Now: opts.Now})
	}
	if opts.MaxArgsBytes <= 0 {
		opts.MaxArgsBytes = 1 << 20
	}
	e := &Enforcer{verifier: v, sink: sink, now: opts.Now, opts: opts, idPrefix: hex.EncodeToString(b[:]) + "-", limits: opts.LimitStore}
	if isNil(e.limits) {
		e.limits = newMemoryLimits(opts.Limits)
	}
	e.gen.Store(&generation{set: p})
	return e, nil
}

// register compiles the current policy for a new guard and returns its index.
func (e *Enforcer) register(t policy.Tool) (int, error) {
	if err := e.ready(); err != nil {
		return 0, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	cur := e.gen.Load()
	prog, err := cur.set.Compile(t)
	if err == nil {
		err = e.checkReads(prog)
	}
	if err != nil {
		return 0, err
	}
	next := &generation{set: cur.set, progs: append(slices.Clip(cur.progs), prog)}
	e.tools = append(e.tools, t)
	e.gen.Store(next)
	return len(next.progs) - 1, nil
}

// program returns the current program for guard i.
func (e *Enforcer) program(i int) *policy.Program { return e.gen.Load().progs[i] }

// Verifier returns the enforcer's identity verifier.
func (e *Enforcer) Verifier() Verifier {
	if e == nil {
		return nil
	}
	return e.verifier
}

// ready reports whether e was built by [NewEnforcer]: every method and every
// guard checks it, so a zero or nil Enforcer is an error, never a panic.
func (e *Enforcer) ready() error {
	if e == nil || e.gen.Load() == nil || e.sink == nil || e.verifier == nil {
		return fmt.Errorf("tools: Enforcer: %w (use NewEnforcer)", ErrNotReady)
	}
	return nil
}

// isNil reports whether v is nil or an interface holding a nil pointer, map,
// func or channel: a typed nil handed in as a Verifier or Sink is as absent as
// a nil one.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Func, reflect.Chan, reflect.Slice, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

// Policy returns the policy set in force.
func (e *Enforcer) Policy() *policy.Set {
	if e.ready() != nil {
		return nil
	}
	return e.gen.Load().set
}

// SetPolicy compiles set for every registered guard and, if all compile, swaps it
// in for all of them at once. Calls in flight finish on the policy they started
// with. If any guard's rules fail to compile, nothing changes and the errors are
// returned. Either way an audit event records the attempt and the version.
func (e *Enforcer) SetPolicy(ctx context.Context, set *policy.Set) error {
	if err := e.ready(); err != nil {
		return err
	}
	if set == nil {
		return errors.New("tools: nil policy set")
	}
	if err := set.Ready(); err != nil {
		return fmt.Errorf("tools: policy set: %w", err)
	}
	e.mu.Lock()
	next := &generation{set: set, progs: make([]*policy.Program, len(e.tools))}
	var errs []error
	for i, t := range e.tools {
		prog, err := set.Compile(t)
		if err == nil {
			err = e.checkReads(prog)
		}
		errs = append(errs, err)
		next.progs[i] = prog
	}
	err := errors.Join(errs...)
	if err == nil {
		e.gen.Store(next)
	}
	e.mu.Unlock()
	return errors.Join(err, e.recordPolicy(ctx, set.Version(), err))
}

// RejectPolicy records in the audit log that a policy version was refused
// before it could reach [Enforcer.SetPolicy] (a bundle with a bad signature, or
// older than the running one); the policy in force does not change. It returns
// an error only if the event could not be recorded.
func (e *Enforcer) RejectPolicy(ctx context.Context, version string, reason error) error {
	if err := e.ready(); err != nil {
		return err
	}
	if reason == nil {
		reason = errors.New("rejected")
	}
	return e.recordPolicy(ctx, version, reason)
}

// recordPolicy records a policy load (or a rejected one) in the audit log.
func (e *Enforcer) recordPolicy(ctx context.Context, version string, loadErr error) error {
	ev := audit.Event{ID: e.idPrefix + "policy-" + strconv.FormatUint(e.ids.Add(1), 10), Time: e.now(),
		Phase: audit.PhasePolicy, PolicyVersion: version, Outcome: audit.OutcomeOK}
	if loadErr != nil {
		ev.Outcome, ev.Error, ev.ErrorType = audit.OutcomeError, loadErr.Error(), "policy_rejected"
	}
	if err := e.sink.Record(context.WithoutCancel(ctx), ev); err != nil {
		return fmt.Errorf("%w: %w", ErrAuditFailed, err)
	}
	return nil
}

// WatchPolicy polls the policy files at paths (see [policy.Watch]) and swaps in
// each new version with [Enforcer.SetPolicy]. A version that does not load or
// does not compile for every guard is rejected: the last good one stays in force,
// and the error goes to onError (if not nil) and to the audit log. WatchPolicy
// returns when ctx is done; run it in its own goroutine.
func (e *Enforcer) WatchPolicy(ctx context.Context, paths []string, opts policy.WatchOptions, onError func(error)) {
	if err := e.ready(); err != nil {
		if onError != nil {
			onError(err)
		}
		return
	}
	policy.Watch(ctx, paths, opts, func(set *policy.Set, err error) {
		if err != nil {
			err = errors.Join(err, e.recordPolicy(ctx, "", err))
		} else {
			err = e.SetPolicy(ctx, set)
		}
		if err != nil && onError != nil {
			onError(err)
		}
	})
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
