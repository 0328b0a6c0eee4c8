package identity

import (
	"slices"
	"strings"
	"time"
)

// Model names the AI model behind an identity: who serves it, which model, which
// version. It is the `model` claim of a modelguard token.
type Model struct {
	Provider string `json:"provider,omitempty" cel:"provider"`
	Name     string `json:"name,omitempty" cel:"name"`
	Version  string `json:"version,omitempty" cel:"version"`
}

// Actor is one link of an RFC 8693 delegation chain: the party acting on behalf of
// the token's subject (or of the actor after it in the chain).
//
// Scope, when the issuer states it, is the space-separated scope the actor held
// when it delegated; a verifier with [Delegation].Attenuate set checks that
// scopes only narrow along the chain.
type Actor struct {
	Subject string `json:"sub" cel:"sub"`
	Issuer  string `json:"iss,omitempty" cel:"iss"`
	Scope   string `json:"scope,omitempty" cel:"scope"`
}

// Claims are the verified claims of a model identity token.
//
// The Go field names are for Go code; the `cel` tags are the names policy
// expressions use (identity.sub, identity.scopes, identity.model.name, …). A Claims
// value returned by a [Verifier] is shared between callers and must be treated as
// immutable.
type Claims struct {
	Issuer    string    `cel:"iss"`
	Subject   string    `cel:"sub"`
	Audience  []string  `cel:"aud"`
	Expiry    time.Time `cel:"exp"`
	NotBefore time.Time `cel:"nbf"`
	IssuedAt  time.Time `cel:"iat"`
	ID        string    `cel:"jti"`

	Model  Model  `cel:"model"`
	Agent  string `cel:"agent"`
	Tenant string `cel:"tenant"`
	Env    string `cel:"env"`

	// Scope is the space-separated scope claim as issued (RFC 8693 §4.2, RFC 9068).
	Scope string `cel:"scope"`
	// Scopes is Scope split on spaces, in issued order, without empty entries.
	Scopes []string `cel:"scopes"`

	// Act is the RFC 8693 delegation chain, flattened from the nested `act` claim:
	// Act[0] is the current actor, each later entry the actor it acted for. Empty
	// when the token is not delegated.
	Act []Actor `cel:"act"`
	// ActDepth is len(Act): 0 for a token that is not delegated.
	ActDepth int `cel:"act_depth"`
	// Origin is the party the delegation chain starts from: the sub of the
	// innermost act claim (the last entry of Act), or Subject when the token is
	// not delegated. For a model acting for a person through a gateway it names
	// the person.
	Origin string `cel:"origin"`
	// MayAct is the RFC 8693 may_act claim: the party the issuer allows to act
	// for the subject. Zero when absent. When a token carries both may_act and
	// act, a [Verifier] requires Act[0] to be that party.
	MayAct Actor `cel:"may_act"`

	// SPIFFEID is the subject's SPIFFE ID and TrustDomain its trust domain
	// (spiffe://example.org/agent → example.org), set only on claims from a
	// verifier made by [NewSVIDVerifier], after the JWT-SVID verified against
	// that trust domain's bundle.
	SPIFFEID    string `cel:"spiffe_id"`
	TrustDomain string `cel:"trust_domain"`

	// Raw holds every claim of the token as decoded from JSON, including custom ones.
	// Policy sees it as identity.claims.
	Raw map[string]any `cel:"claims"`
}

// HasScope reports whether s is one of the token's scopes.
func (c *Claims) HasScope(s string) bool {
	if c == nil {
		return false
	}
	return slices.Contains(c.Scopes, s)
}

// SplitScope splits a space-separated scope string into its scopes, dropping empty
// entries.
func SplitScope(scope string) []string {
	if scope == "" {
		return nil
	}
	return strings.Fields(scope)
}

// UnsafeClaimsFromMap builds Claims from a claim map as decoded from JSON (numbers
// as float64), checking only the claims' types, never a signature, issuer,
// audience or time. It is for tools that replay or explain recorded decisions and
// for policy tests; a guard never uses it.
func UnsafeClaimsFromMap(raw map[string]any) (*Claims, error) { return typed(raw) }
