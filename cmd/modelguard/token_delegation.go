package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/modelguard/modelguard/identity"
)

// delegationFlags are the delegation and lifetime flags of token mint: who
// acts for the subject (RFC 8693 act and may_act), and when the token starts
// to be valid.
type delegationFlags struct {
	act    listFlag
	mayAct string
	iat    string
	nbf    time.Duration
	jti    string
}

func (d *delegationFlags) register(fset *flag.FlagSet) {
	fset.Var(&d.act, "act", "delegation `actor`: a sub, or a JSON object {\"sub\",\"iss\",\"scope\"}; repeat for a chain, current actor first")
	fset.StringVar(&d.mayAct, "may-act", "", "the `party` allowed to act for the subject (may_act): a sub or a JSON object")
	fset.StringVar(&d.iat, "iat", "", "issue `time` (RFC 3339; default now); exp is iat + -ttl")
	fset.DurationVar(&d.nbf, "nbf", 0, "not-before `offset` from the issue time (0: valid at once)")
	fset.StringVar(&d.jti, "jti", "", "token `id` (default: 128 random bits)")
}

// apply sets the delegation and lifetime claims on c. Every error names its
// flag.
func (d *delegationFlags) apply(c *identity.Claims, ttl time.Duration) error {
	for i, v := range d.act {
		a, err := parseActor(v)
		if err != nil {
			return fmt.Errorf("-act %d %q: %v", i+1, v, err)
		}
		c.Act = append(c.Act, a)
	}
	if d.mayAct != "" {
		a, err := parseActor(d.mayAct)
		if err != nil {
			return fmt.Errorf("-may-act %q: %v", d.mayAct, err)
		}
		c.MayAct = a
	}
	c.ID = d.jti
	return d.times(c, ttl)
}

func (d *delegationFlags) times(c *identity.Claims, ttl time.Duration) error {
	if d.iat != "" {
		t, err := time.Parse(time.RFC3339, d.iat)
		if err != nil {
			return fmt.Errorf("-iat %q: want an RFC 3339 time such as 2026-01-02T15:04:05Z", d.iat)
		}
		c.IssuedAt = t
	}
	switch {
	case d.nbf < 0:
		return fmt.Errorf("-nbf %s: must not be negative", d.nbf)
	case d.nbf >= ttl:
		return fmt.Errorf("-nbf %s: not before the token expires (-ttl %s)", d.nbf, ttl)
	case d.nbf > 0:
		if c.IssuedAt.IsZero() {
			c.IssuedAt = time.Now()
		}
		c.NotBefore = c.IssuedAt.Add(d.nbf)
	}
	return nil
}

// parseActor reads an actor: a JSON object with sub (and optional iss and
// scope), or a plain subject.
func parseActor(v string) (identity.Actor, error) {
	if !strings.HasPrefix(strings.TrimSpace(v), "{") {
		if strings.TrimSpace(v) == "" {
			return identity.Actor{}, fmt.Errorf("empty subject")
		}
		return identity.Actor{Subject: v}, nil
	}
	var a struct {
		Sub, Iss, Scope string
	}
	dec := json.NewDecoder(strings.NewReader(v))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return identity.Actor{}, fmt.Errorf("not an actor object: %v", err)
	}
	if a.Sub == "" {
		return identity.Actor{}, fmt.Errorf("actor object has no sub")
	}
	return identity.Actor{Subject: a.Sub, Issuer: a.Iss, Scope: strings.Join(identity.SplitScope(a.Scope), " ")}, nil
}
