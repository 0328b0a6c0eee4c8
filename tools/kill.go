package tools

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/modelguard/modelguard/identity"
)

// Kill-switch errors and codes.
var (
	// ErrKilled: a kill switch covering the call is active; the call is denied
	// before policy is consulted.
	ErrKilled = errors.New("tools: stopped by kill switch")
	// ErrKillSwitchUnavailable: the kill switch could not be checked (its store
	// is down, or its view is too stale to trust); the call is denied.
	ErrKillSwitchUnavailable = errors.New("tools: kill switch unavailable")
)

// KillScope is what a [Kill] stops.
type KillScope string

// The scopes of a kill switch. Agent, subject and tenant match the verified
// claims of the same name (in any issuer: a kill errs on the side of stopping),
// tool the guarded tool's name, and all every call.
const (
	KillAll     KillScope = "all"
	KillAgent   KillScope = "agent"
	KillSubject KillScope = "subject"
	KillTenant  KillScope = "tenant"
	KillTool    KillScope = "tool"
)

// Kill is one active kill switch.
type Kill struct {
	ID     string    // unique id, assigned by the store
	Scope  KillScope // what it stops
	Value  string    // the agent, subject, tenant or tool it stops; empty for KillAll
	By     string    // who activated it
	Reason string    // why
	At     time.Time // when it was activated
}

// Check reports whether k is well formed: a known scope, and a value exactly
// when the scope needs one.
func (k Kill) Check() error {
	switch k.Scope {
	case KillAll:
		if k.Value != "" {
			return fmt.Errorf("tools: kill switch %q takes no value, have %q", k.Scope, k.Value)
		}
	case KillAgent, KillSubject, KillTenant, KillTool:
		if k.Value == "" {
			return fmt.Errorf("tools: kill switch %q needs a value", k.Scope)
		}
	default:
		return fmt.Errorf("tools: unknown kill switch scope %q (want all, agent, subject, tenant or tool)", k.Scope)
	}
	if k.By == "" {
		return errors.New("tools: a kill switch must say who activated it")
	}
	return nil
}

// Stops reports whether k stops a call by c to tool. A malformed Kill stops
// everything: a switch that cannot be read is taken as pulled.
func (k Kill) Stops(c *identity.Claims, tool string) bool {
	switch k.Scope {
	case KillAgent:
		return c != nil && c.Agent == k.Value
	case KillSubject:
		return c != nil && c.Subject == k.Value
	case KillTenant:
		return c != nil && c.Tenant == k.Value
	case KillTool:
		return tool == k.Value
	}
	return true
}

func (k Kill) String() string {
	if k.Scope == KillAll {
		return "kill switch " + k.ID + " (everything)"
	}
	return fmt.Sprintf("kill switch %s (%s %q)", k.ID, k.Scope, k.Value)
}

// KillSwitch says whether a call must be stopped. The guard asks it on every
// call, after the identity is verified and before policy decides; it returns the
// kill that stops the call, nil to let it through, or an error, which denies
// the call with [CodeKillSwitchUnavailable]. It is on the hot path: keep it a
// lookup in memory (see [KillSet]), refreshed from shared storage out of band.
type KillSwitch interface {
	Stopped(ctx context.Context, c *identity.Claims, tool string) (*Kill, error)
}

// KillSet is an in-memory [KillSwitch]: the kills of one process, or a fleet
// store's current view of the shared ones (see [KillSet.Replace]). The zero
// value stops nothing. It is safe for concurrent use.
type KillSet struct {
	mu    sync.RWMutex
	kills []Kill
	err   error
}

// Stopped implements [KillSwitch]. With many kills it is a linear scan; a
// fleet rarely has more than a handful active.
func (s *KillSet) Stopped(_ context.Context, c *identity.Claims, tool string) (*Kill, error) {
	if s == nil {
		return nil, errors.New("tools: nil KillSet")
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.err != nil {
		return nil, s.err
	}
	for i := range s.kills {
		if s.kills[i].Stops(c, tool) {
			k := s.kills[i]
			return &k, nil
		}
	}
	return nil, nil
}

// Activate adds k (which must pass [Kill.Check]).
func (s *KillSet) Activate(k Kill) error {
	if s == nil {
		return errors.New("tools: nil KillSet")
	}
	if err := k.Check(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kills = append(s.kills, k)
	return nil
}

// Lift removes the kill with id and reports whether there was one.
func (s *KillSet) Lift(id string) bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(s.kills)
	s.kills = slices.DeleteFunc(s.kills, func(k Kill) bool { return k.ID == id })
	return len(s.kills) < n
}

// List returns the active kills.
func (s *KillSet) List() []Kill {
	if s == nil {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.kills)
}

// Replace sets the whole view at once: the kills now active, or (err not nil)
// the reason the view cannot be trusted, which makes every call fail closed
// until the next Replace without one.
func (s *KillSet) Replace(kills []Kill, err error) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kills, s.err = slices.Clone(kills), err
}

// stopped asks the enforcer's kill switch about a call; nil means go on.
func (e *Enforcer) stopped(ctx context.Context, c *identity.Claims, tool string) *DeniedError {
	ks := e.opts.Kill
	if ks == nil {
		return nil
	}
	k, err := ks.Stopped(ctx, c, tool)
	switch {
	case err != nil:
		return newDenial(CodeKillSwitchUnavailable, err, "the kill switch could not be checked", err.Error())
	case k != nil:
		why := k.String() + " activated by " + k.By
		if k.Reason != "" {
			why += ": " + k.Reason
		}
		return newDenial(CodeKilled, nil, "calls are stopped by an operator", why)
	}
	return nil
}
