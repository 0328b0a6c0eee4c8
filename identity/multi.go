package identity

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/go-jose/go-jose/v4/json"
)

// MultiVerifier accepts tokens from several issuers, each checked by its own
// [Verifier] with its own key set and rules. It picks the verifier by the
// token's iss and hands the whole token to it; key sets are never merged, so a
// key of one issuer can never vouch for another's tokens. It is immutable and
// safe for concurrent use.
type MultiVerifier struct {
	list    []*Verifier
	byIss   map[string]*Verifier
	maxSize int
}

// NewMultiVerifier returns a verifier that routes each token to the one of vs
// whose Issuer is the token's iss. Each of vs must have an issuer (JWT-SVID
// verifiers have none) and no two the same; problems wrap [ErrConfig].
func NewMultiVerifier(vs ...*Verifier) (*MultiVerifier, error) {
	m := &MultiVerifier{byIss: make(map[string]*Verifier, len(vs))}
	var errs []error
	if len(vs) == 0 {
		errs = append(errs, fmt.Errorf("identity: multi-issuer verifier needs verifiers: %w", ErrConfig))
	}
	for i, v := range vs {
		switch {
		case v == nil || v.issuer == "":
			errs = append(errs, fmt.Errorf("identity: verifier %d has no issuer: %w", i, ErrConfig))
		case m.byIss[v.issuer] != nil:
			errs = append(errs, fmt.Errorf("identity: verifier %d: issuer %q given twice: %w", i, v.issuer, ErrConfig))
		default:
			m.byIss[v.issuer] = v
			m.list = append(m.list, v)
			m.maxSize = max(m.maxSize, v.maxSize)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// Issuers returns the issuers accepted, in the order given.
func (m *MultiVerifier) Issuers() []string {
	if m == nil || len(m.list) == 0 {
		return nil
	}
	out := make([]string, len(m.list))
	for i, v := range m.list {
		out[i] = v.issuer
	}
	return out
}

// Verify checks token with the verifier of its issuer. A token whose iss is
// not one of them is refused with [ErrIssuer]; otherwise the result is that
// verifier's. The iss used for routing is read before the signature is
// checked, which is safe: the chosen verifier checks the signature with its
// own keys and then requires iss to be its issuer.
func (m *MultiVerifier) Verify(ctx context.Context, token string) (*Claims, error) {
	if m == nil || len(m.list) == 0 {
		return nil, fmt.Errorf("identity: MultiVerifier not built by NewMultiVerifier: %w", ErrConfig)
	}
	if len(token) > m.maxSize {
		return nil, fmt.Errorf("identity: token of %d bytes exceeds %d: %w", len(token), m.maxSize, ErrTooLarge)
	}
	now := m.list[0].now()
	for _, v := range m.list { // a cached token needs no routing
		if _, ok := v.cache.get(token, now); ok {
			return v.Verify(ctx, token)
		}
	}
	iss, err := peekIssuer(token)
	if err != nil {
		return nil, err
	}
	v := m.byIss[iss]
	if v == nil {
		return nil, fmt.Errorf("identity: issuer %.128q is not accepted here: %w", iss, ErrIssuer)
	}
	return v.Verify(ctx, token)
}

// peekIssuer reads iss from the unverified payload of token.
func peekIssuer(token string) (string, error) {
	_, pseg, _, err := split(token)
	if err != nil {
		return "", err
	}
	b, err := base64.RawURLEncoding.DecodeString(pseg)
	if err != nil {
		return "", fmt.Errorf("identity: payload: %v: %w", err, ErrMalformed)
	}
	var p struct {
		Iss *string `json:"iss"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return "", fmt.Errorf("identity: claims: %v: %w", err, ErrMalformed)
	}
	if p.Iss == nil || *p.Iss == "" {
		return "", fmt.Errorf("identity: claim \"iss\" is missing or empty: %w", ErrMissingClaim)
	}
	return *p.Iss, nil
}
