package tools

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
)

// GrantType is the typ header of approval grants. Grants are JWS like identity
// tokens but of their own type, so neither can stand in for the other.
const GrantType = "mg-grant+jwt"

// GrantSpec describes a grant for a human approver (or an approval service) to
// sign with [MintGrant].
type GrantSpec struct {
	// ModelIssuer and Subject name the model identity the grant is for; both are
	// required, so that a grant cannot apply to a namesake from another issuer.
	ModelIssuer, Subject string
	// Audience is the audience the grant is for: the one the enforcer's grant
	// verifier (ApprovalOptions.Verifier, see [NewGrantVerifier]) requires.
	Audience []string
	// Tools the grant covers: names or tool-name globs ([policy.MatchTool]).
	Tools []string
	// ArgsDigest binds the grant to the exact arguments of one call
	// (audit.Digest of them). Leave empty for an elevation.
	ArgsDigest string
	// Constraint, a CEL bool expression over identity, tool, args and request,
	// must hold for the grant to apply ("args.amount_cents <= 20000").
	Constraint string
	// Approver is the human who approved.
	Approver string
	// Request is the approval request the grant answers, if any.
	Request string
	// Expiry is when the grant ends; the grant issuer's TTL from now when zero.
	// A verifier refuses grants that live longer than its MaxLifetime.
	Expiry time.Time
	// Reusable grants (temporary elevation) may be used until they expire;
	// others are spent by their first use.
	Reusable bool
}

// NewGrantIssuer returns an issuer that signs approval grants with an approver's
// private key. opts.Type is set to GrantType.
func NewGrantIssuer(issuer string, key jose.JSONWebKey, opts identity.IssuerOptions) (*identity.Issuer, error) {
	opts.Type = GrantType
	return identity.NewIssuer(issuer, key, opts)
}

// NewGrantVerifier returns a verifier for grants signed with the approvers' keys.
func NewGrantVerifier(issuer, audience string, keys identity.Keys, opts identity.VerifierOptions) (*identity.Verifier, error) {
	opts.Type = GrantType
	return identity.NewVerifier(issuer, audience, keys, opts)
}

// MintGrant signs a grant. iss must come from [NewGrantIssuer].
func MintGrant(iss *identity.Issuer, s GrantSpec) (string, error) {
	if s.ModelIssuer == "" || s.Subject == "" || len(s.Tools) == 0 || s.Approver == "" {
		return "", errors.New("tools: a grant needs the model's issuer and subject, tools and an approver")
	}
	for _, p := range s.Tools {
		if err := policy.ValidPattern(p); err != nil {
			return "", fmt.Errorf("tools: grant tools: %w", err)
		}
	}
	if !s.Reusable && s.ArgsDigest == "" && s.Constraint == "" {
		return "", errors.New("tools: a single-use grant must bind the arguments (ArgsDigest) or constrain them")
	}
	c := identity.Claims{Subject: s.Subject, Audience: s.Audience, Raw: map[string]any{
		"tools": s.Tools, "approver": s.Approver, "reusable": s.Reusable,
	}}
	set := func(k, v string) {
		if v != "" {
			c.Raw[k] = v
		}
	}
	set("model_iss", s.ModelIssuer)
	set("args_digest", s.ArgsDigest)
	set("constraint", s.Constraint)
	set("request", s.Request)
	c.Expiry = s.Expiry
	return iss.Mint(c)
}

// grant is a verified grant's terms.
type grant struct {
	claims     *identity.Claims
	modelIss   string
	tools      []string
	argsDigest string
	constraint string
	approver   string
	request    string
	reusable   bool
}

func parseGrant(c *identity.Claims) (*grant, error) {
	g := &grant{claims: c}
	str := func(k string) string { s, _ := c.Raw[k].(string); return s }
	g.modelIss, g.argsDigest, g.constraint = str("model_iss"), str("args_digest"), str("constraint")
	g.approver, g.request = str("approver"), str("request")
	g.reusable, _ = c.Raw["reusable"].(bool)
	list, _ := c.Raw["tools"].([]any)
	for _, t := range list {
		if s, ok := t.(string); ok && s != "" {
			g.tools = append(g.tools, s)
		}
	}
	if len(g.tools) == 0 || g.approver == "" || g.modelIss == "" {
		return nil, errors.New("grant names no tools, no approver or no model issuer")
	}
	if !g.reusable && g.argsDigest == "" && g.constraint == "" {
		return nil, errors.New("single-use grant binds no arguments")
	}
	return g, nil
}

// applies reports why g does not cover this call, or nil if it does.
func (g *grant) applies(ctx context.Context, prog *policy.Program, who *identity.Claims, tool, digest string, in policy.Input) error {
	switch {
	case g.claims.Subject != who.Subject || g.modelIss != who.Issuer:
		return errors.New("grant is for another identity")
	case !g.covers(tool):
		return errors.New("grant does not cover this tool")
	case g.argsDigest != "" && g.argsDigest != digest:
		return errors.New("grant is for other arguments")
	}
	if g.constraint != "" {
		ok, err := prog.Check(ctx, g.constraint, in)
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("grant constraint does not hold")
		}
	}
	return nil
}

func (g *grant) covers(tool string) bool {
	for _, p := range g.tools {
		if policy.MatchTool(p, tool) {
			return true
		}
	}
	return false
}

// policyGrant is what CEL sees of g.
func (g *grant) policyGrant() *policy.Grant {
	return &policy.Grant{Present: true, ID: g.claims.ID, Approver: g.approver, Tools: g.tools,
		Expiry: g.claims.Expiry, Claims: g.claims.Raw}
}

func (g *grant) String() string {
	return fmt.Sprintf("grant %s by %s", g.claims.ID, g.approver)
}
