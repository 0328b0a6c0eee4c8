package identity

import (
	"fmt"
	"slices"
	"time"
)

// The claim set is decoded once, by go-jose's JSON decoder (which rejects
// duplicate keys), into the raw map that becomes Claims.Raw; the typed fields
// are read out of that same map, so the two can never disagree. Decoding once
// instead of into a struct and a map halves the JSON work of a cold verify.

// maxActDepth bounds the delegation chain a token may carry.
const maxActDepth = 16

// maxDate bounds a NumericDate, as go-jose's jwt.NumericDate does: far beyond
// any real time, safely short of overflow in time.Unix.
const maxDate = 1 << 62

// typed reads the claims out of the raw claim map. A known claim of the wrong
// JSON type is malformed.
func typed(raw map[string]any) (*Claims, error) {
	r := reader{m: raw}
	c := &Claims{
		Issuer:    r.str("iss"),
		Subject:   r.str("sub"),
		Audience:  r.audience(),
		Expiry:    r.date("exp"),
		NotBefore: r.date("nbf"),
		IssuedAt:  r.date("iat"),
		ID:        r.str("jti"),
		Model:     r.model(),
		Agent:     r.str("agent"),
		Tenant:    r.str("tenant"),
		Env:       r.str("env"),
		Scope:     r.str("scope"),
		Raw:       raw,
	}
	if r.err != nil {
		return nil, r.err
	}
	c.Scopes = SplitScope(c.Scope)
	var err error
	if c.Act, err = chain(raw["act"]); err != nil {
		return nil, err
	}
	c.ActDepth, c.Origin = len(c.Act), c.Subject
	if len(c.Act) > 0 {
		c.Origin = c.Act[len(c.Act)-1].Subject
	}
	c.MayAct, err = mayAct(raw["may_act"])
	return c, err
}

// reader reads typed values out of a decoded JSON object, keeping the first
// type error.
type reader struct {
	m      map[string]any
	prefix string // for nested objects: "model."
	err    error
}

func (r *reader) fail(name string, v any, want string) {
	if r.err == nil {
		r.err = fmt.Errorf("identity: claim %q is %s, want %s: %w", r.prefix+name, jsonType(v), want, ErrMalformed)
	}
}

func (r *reader) str(name string) string {
	switch v := r.m[name].(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		r.fail(name, v, "a string")
		return ""
	}
}

// date reads a NumericDate; absent is the zero time.
func (r *reader) date(name string) time.Time {
	switch v := r.m[name].(type) {
	case float64:
		if v >= maxDate || v <= -maxDate {
			r.fail(name, v, "a date in range")
			return time.Time{}
		}
		return time.Unix(int64(v), 0).UTC()
	case nil:
		return time.Time{}
	default:
		r.fail(name, v, "a number")
		return time.Time{}
	}
}

// audience reads aud, a string or an array of strings (RFC 7519 §4.1.3).
func (r *reader) audience() []string {
	switch v := r.m["aud"].(type) {
	case string:
		return []string{v}
	case []any:
		aud := make([]string, len(v))
		for i, a := range v {
			s, ok := a.(string)
			if !ok {
				r.fail("aud", v, "a string or an array of strings")
				return nil
			}
			aud[i] = s
		}
		return aud
	case nil:
		return nil
	default:
		r.fail("aud", v, "a string or an array of strings")
		return nil
	}
}

func (r *reader) model() Model {
	switch v := r.m["model"].(type) {
	case map[string]any:
		in := reader{m: v, prefix: "model."}
		m := Model{Provider: in.str("provider"), Name: in.str("name"), Version: in.str("version")}
		if in.err != nil && r.err == nil {
			r.err = in.err
		}
		return m
	case nil:
		return Model{}
	default:
		r.fail("model", v, "an object")
		return Model{}
	}
}

// chain flattens a nested act claim, outermost (current) actor first.
func chain(v any) ([]Actor, error) {
	var out []Actor
	for depth := 0; v != nil; depth++ {
		if depth == maxActDepth {
			return nil, fmt.Errorf("identity: act claim nested deeper than %d: %w", maxActDepth, ErrMalformed)
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("identity: claim \"act\" at depth %d is %s, want an object: %w", depth, jsonType(v), ErrMalformed)
		}
		r := reader{m: m, prefix: "act."}
		a := Actor{Subject: r.str("sub"), Issuer: r.str("iss"), Scope: r.str("scope")}
		switch {
		case r.err != nil:
			return nil, r.err
		case a.Subject == "":
			return nil, fmt.Errorf("identity: claim \"act\" at depth %d has no sub: %w", depth, ErrMissingClaim)
		}
		out = append(out, a)
		v = m["act"]
	}
	return out, nil
}

// mayAct reads the may_act claim: absent, or an object with a sub.
func mayAct(v any) (Actor, error) {
	if v == nil {
		return Actor{}, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return Actor{}, fmt.Errorf("identity: claim \"may_act\" is %s, want an object: %w", jsonType(v), ErrMalformed)
	}
	r := reader{m: m, prefix: "may_act."}
	a := Actor{Subject: r.str("sub"), Issuer: r.str("iss"), Scope: r.str("scope")}
	switch {
	case r.err != nil:
		return Actor{}, r.err
	case a.Subject == "":
		return Actor{}, fmt.Errorf("identity: claim \"may_act\" has no sub: %w", ErrMissingClaim)
	}
	return a, nil
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	}
	return "an object"
}

// required checks that every claim a token must carry is present and not
// empty: iss, sub, aud, exp, iat and jti for a modelguard token; sub, aud and
// exp for a JWT-SVID, and jti too for a one-time token.
func (v *Verifier) required(c *Claims) error {
	svid := v.bundles != nil
	var missing string
	switch {
	case c.Issuer == "" && !svid:
		missing = "iss"
	case c.Subject == "":
		missing = "sub"
	case len(c.Audience) == 0:
		missing = "aud"
	case c.Raw["exp"] == nil:
		missing = "exp"
	case c.Raw["iat"] == nil && !svid:
		missing = "iat"
	case c.ID == "" && (!svid || v.oneTime):
		missing = "jti"
	default:
		return nil
	}
	return fmt.Errorf("identity: claim %q is missing or empty: %w", missing, ErrMissingClaim)
}

// check applies the presence, issuer (or SPIFFE ID), audience, time and
// delegation rules at now.
func (v *Verifier) check(c *Claims, route string, now time.Time) error {
	if err := v.required(c); err != nil {
		return err
	}
	if v.bundles != nil {
		if err := checkSVID(c, route); err != nil {
			return err
		}
	} else if c.Issuer != v.issuer {
		return fmt.Errorf("identity: issuer %.128q, want %q: %w", c.Issuer, v.issuer, ErrIssuer)
	}
	if !slices.Contains(c.Audience, v.audience) {
		return fmt.Errorf("identity: audience %.128q does not contain %q: %w", c.Audience, v.audience, ErrAudience)
	}
	if err := v.checkTimes(c, now); err != nil {
		return err
	}
	return v.delegation.check(c)
}

// checkTimes applies the time rules. An absent nbf is the zero time, which
// never fails the nbf check; an absent iat (JWT-SVIDs only) bounds exp − now
// instead of exp − iat.
func (v *Verifier) checkTimes(c *Claims, now time.Time) error {
	exp, nbf, iat := c.Expiry, c.NotBefore, c.IssuedAt
	if now.After(exp.Add(v.leeway)) {
		return fmt.Errorf("identity: token expired at %s (now %s, leeway %s): %w", stamp(exp), stamp(now), v.leeway, ErrExpired)
	}
	if now.Add(v.leeway).Before(nbf) {
		return fmt.Errorf("identity: token not valid before %s (now %s, leeway %s): %w", stamp(nbf), stamp(now), v.leeway, ErrNotYetValid)
	}
	if iat.After(now.Add(v.leeway)) {
		return fmt.Errorf("identity: token issued at %s, in the future (now %s, leeway %s): %w", stamp(iat), stamp(now), v.leeway, ErrIssuedInFuture)
	}
	if c.Raw["iat"] == nil {
		iat = now
	}
	if exp.Before(iat) && c.Raw["iat"] != nil {
		return fmt.Errorf("identity: token expires at %s, before it was issued at %s: %w", stamp(exp), stamp(iat), ErrLifetime)
	}
	if life := exp.Sub(iat); life > v.maxLifetime {
		return fmt.Errorf("identity: token lifetime %s exceeds %s: %w", life, v.maxLifetime, ErrLifetime)
	}
	return nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// window is the span of instants at which a token with claims c passes
// checkTimes: the cache serves c only inside it.
func (v *Verifier) window(c *Claims) (lo, hi time.Time) {
	lo = c.IssuedAt
	if c.NotBefore.After(lo) {
		lo = c.NotBefore
	}
	return lo.Add(-v.leeway), c.Expiry.Add(v.leeway)
}
