package identity

import (
	"fmt"
	"path"
	"slices"
)

// Delegation holds the attenuation rules a [Verifier] applies to the act
// chain of a delegated token (RFC 8693 §4.1). The zero value applies none,
// beyond the parser's own bound of 16 links and the may_act check that is
// always made.
type Delegation struct {
	// MaxDepth bounds the number of actors in the chain (len(Claims.Act)).
	// Zero means no bound beyond 16; negative refuses every delegated token.
	MaxDepth int

	// Actors are patterns, in the syntax of [path.Match], that the sub of
	// every actor in the chain must match ("svc:gateway", "spiffe://example.org/agent/*").
	// Empty means any actor.
	Actors []string

	// Attenuate requires scopes to narrow along the chain wherever the issuer
	// states them: the token's scopes must be a subset of the scope of every
	// actor that carries one, and each actor's scope a subset of the scope of
	// every actor after it in Claims.Act (the earlier links of the chain).
	Attenuate bool
}

// DelegationError is the error for a token that breaks a [Delegation] rule or
// its own may_act claim. It wraps [ErrDelegation].
type DelegationError struct {
	// Rule is "depth", "actor", "scope" or "may_act".
	Rule string
	// Index is the position in Claims.Act of the actor at fault, or -1 when
	// the rule is about the chain as a whole.
	Index int
	// Actor is the sub of the actor at fault, if any.
	Actor string
	// Detail says what was wrong.
	Detail string
}

func (e *DelegationError) Error() string {
	if e == nil {
		return "identity: delegation"
	}
	return "identity: delegation: " + e.Rule + ": " + e.Detail
}

// Unwrap returns ErrDelegation.
func (e *DelegationError) Unwrap() error { return ErrDelegation }

// checkPatterns validates the actor patterns once, at construction, and
// returns one error per bad pattern.
func (d Delegation) checkPatterns() []error {
	var errs []error
	for _, p := range d.Actors {
		if _, err := path.Match(p, ""); err != nil || p == "" {
			errs = append(errs, fmt.Errorf("identity: delegation actor pattern %q is not a valid pattern: %w", p, ErrConfig))
		}
	}
	return errs
}

// check applies the rules to c.
func (d Delegation) check(c *Claims) error {
	if err := checkMayAct(c); err != nil {
		return err
	}
	n := len(c.Act)
	switch {
	case n == 0:
		return nil
	case d.MaxDepth < 0:
		return &DelegationError{Rule: "depth", Index: -1, Detail: "delegated tokens are not accepted"}
	case d.MaxDepth > 0 && n > d.MaxDepth:
		return &DelegationError{Rule: "depth", Index: -1, Detail: fmt.Sprintf("chain of %d actors exceeds %d", n, d.MaxDepth)}
	}
	if err := d.checkActors(c.Act); err != nil {
		return err
	}
	if d.Attenuate {
		return attenuated(c)
	}
	return nil
}

func (d Delegation) checkActors(chain []Actor) error {
	if len(d.Actors) == 0 {
		return nil
	}
	for i, a := range chain {
		if !slices.ContainsFunc(d.Actors, func(p string) bool { ok, _ := path.Match(p, a.Subject); return ok }) {
			return &DelegationError{Rule: "actor", Index: i, Actor: a.Subject,
				Detail: fmt.Sprintf("actor %d %.128q matches no allowed actor pattern", i, a.Subject)}
		}
	}
	return nil
}

// checkMayAct refuses a token whose current actor is not the party its own
// may_act claim names.
func checkMayAct(c *Claims) error {
	if c.MayAct.Subject == "" || len(c.Act) == 0 {
		return nil
	}
	a := c.Act[0]
	if a.Subject != c.MayAct.Subject || c.MayAct.Issuer != "" && a.Issuer != c.MayAct.Issuer {
		return &DelegationError{Rule: "may_act", Index: 0, Actor: a.Subject,
			Detail: fmt.Sprintf("actor %.128q is not the party may_act allows (%.128q)", a.Subject, c.MayAct.Subject)}
	}
	return nil
}

// attenuated checks that stated scopes never widen from the start of the
// chain (the last actor) to the token itself.
func attenuated(c *Claims) error {
	var wider []string // the narrowest scope stated so far, walking from the origin
	have := false
	for i := len(c.Act) - 1; i >= 0; i-- {
		if c.Act[i].Scope == "" {
			continue
		}
		s := SplitScope(c.Act[i].Scope)
		if extra := notIn(s, wider); have && extra != "" {
			return &DelegationError{Rule: "scope", Index: i, Actor: c.Act[i].Subject,
				Detail: fmt.Sprintf("actor %d holds scope %.64q that the actor it acted for did not", i, extra)}
		}
		wider, have = s, true
	}
	if extra := notIn(c.Scopes, wider); have && extra != "" {
		return &DelegationError{Rule: "scope", Index: -1,
			Detail: fmt.Sprintf("token scope %.64q exceeds the delegating actor's scope", extra)}
	}
	return nil
}

// notIn returns the first element of s missing from set, or "".
func notIn(s, set []string) string {
	for _, x := range s {
		if !slices.Contains(set, x) {
			return x
		}
	}
	return ""
}
