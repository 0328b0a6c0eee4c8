package identity

import (
	"context"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Verifier checks model identity tokens from one issuer for one audience. It
// is immutable after construction and safe for concurrent use.
type Verifier struct {
	issuer, audience string
	keys             Keys
	bundles          Bundles // set on a JWT-SVID verifier, which has no issuer
	algs             []jose.SignatureAlgorithm
	leeway           time.Duration
	maxLifetime      time.Duration
	types            []string // accepted typ values; "" accepts a token without typ
	maxSize          int
	now              func() time.Time
	cache            *cache
	delegation       Delegation
	store            Store
	oneTime          bool
	revs             *revocations
}

// NewVerifier returns a verifier that accepts tokens whose iss is exactly issuer,
// whose aud contains audience, and whose signature verifies with a key from keys.
// It reports every problem with its arguments at once; algorithm problems wrap
// [ErrAlgorithm], the others [ErrConfig].
func NewVerifier(issuer, audience string, keys Keys, opts VerifierOptions) (*Verifier, error) {
	var errs []error
	if issuer == "" {
		errs = append(errs, fmt.Errorf("identity: verifier needs an issuer: %w", ErrConfig))
	}
	if ks, ok := keys.(*KeySet); keys == nil || ok && ks == nil {
		errs = append(errs, fmt.Errorf("identity: verifier needs keys: %w", ErrConfig))
	}
	v, more := newVerifier(issuer, audience, opts)
	if err := errors.Join(append(errs, more...)...); err != nil {
		return nil, err
	}
	v.keys = keys
	return v, nil
}

// Issuer returns the issuer the verifier requires ("" for a JWT-SVID verifier).
func (v *Verifier) Issuer() string {
	if v == nil {
		return ""
	}
	return v.issuer
}

// Audience returns the audience the verifier requires.
func (v *Verifier) Audience() string {
	if v == nil {
		return ""
	}
	return v.audience
}

// verified is the outcome of a full verification.
type verified struct {
	claims *Claims
	issuer string // the replay and revocation namespace
	route  string // the trust domain of a JWT-SVID
	kid    string
	key    *jose.JSONWebKey
}

// Verify checks token and returns its claims. On failure the error wraps
// exactly one rejection sentinel ([ErrTooLarge], [ErrMalformed], [ErrHeader],
// [ErrAlgorithm], [ErrType], [ErrUnknownKey], [ErrSignature],
// [ErrMissingClaim], [ErrIssuer], [ErrAudience], [ErrExpired],
// [ErrNotYetValid], [ErrIssuedInFuture], [ErrLifetime], [ErrDelegation],
// [ErrRevoked], [ErrReplay], [ErrStore], [ErrKeysUnavailable]) or an error
// from the key source. The returned claims may be shared with other callers
// and must not be modified.
//
// ctx is passed to the key source and the store.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	if v == nil || v.maxSize == 0 {
		return nil, fmt.Errorf("identity: verifier not built by NewVerifier: %w", ErrConfig)
	}
	if len(token) > v.maxSize {
		return nil, fmt.Errorf("identity: token of %d bytes exceeds %d: %w", len(token), v.maxSize, ErrTooLarge)
	}
	now := v.now()
	if c, hit, err := v.fromCache(ctx, token, now); hit {
		return c, err
	}
	r, err := v.verify(ctx, token, now)
	if err != nil {
		return nil, err
	}
	if err := v.admit(ctx, r, now); err != nil {
		return nil, err
	}
	lo, hi := v.window(r.claims)
	v.cache.put(token, cached{verified: *r, lo: lo, hi: hi}, now)
	return r.claims, nil
}

// fromCache serves token from the cache if it is there, its signing key is
// still the one the key source holds for its kid (so a removed or replaced key,
// or a key source that can no longer vouch for its keys, sends it back through
// full verification), and it is not revoked. hit false means: verify in full.
func (v *Verifier) fromCache(ctx context.Context, token string, now time.Time) (c *Claims, hit bool, err error) {
	e, ok := v.cache.get(token, now)
	if !ok {
		return nil, false, nil
	}
	keys, err := v.keysFor(ctx, e.route)
	if err != nil {
		return nil, false, nil
	}
	if k, err := keys.Key(ctx, e.kid); err != nil || k != e.key {
		v.cache.remove(token)
		return nil, false, nil
	}
	if err := v.revs.check(ctx, e.issuer, e.claims, e.kid, now); err != nil {
		return nil, true, err
	}
	return e.claims, true, nil
}

// admit consults the store: revocations, then the one-time use of the jti.
func (v *Verifier) admit(ctx context.Context, r *verified, now time.Time) error {
	if err := v.revs.check(ctx, r.issuer, r.claims, r.kid, now); err != nil {
		return err
	}
	if !v.oneTime {
		return nil
	}
	err := v.store.Use(ctx, r.issuer, r.claims.ID, r.claims.Expiry.Add(v.leeway))
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrReplay):
		return fmt.Errorf("identity: jti %.64q of %.128q was already used: %w", r.claims.ID, r.issuer, ErrReplay)
	}
	return fmt.Errorf("identity: record token use: %v: %w", err, ErrStore)
}

// verify runs every check, cheapest first; nothing reaches go-jose before the
// header has passed the allow-lists.
func (v *Verifier) verify(ctx context.Context, token string, now time.Time) (*verified, error) {
	hseg, pseg, _, err := split(token)
	if err != nil {
		return nil, err
	}
	h, err := v.header(hseg)
	if err != nil {
		return nil, err
	}
	route, keys, err := v.route(ctx, pseg)
	if err != nil {
		return nil, err
	}
	tok, err := jwt.ParseSigned(token, v.algs)
	if err != nil {
		return nil, fmt.Errorf("identity: %v: %w", err, ErrMalformed)
	}
	if len(tok.Headers) != 1 { // unreachable for compact tokens; kept as a guard
		return nil, fmt.Errorf("identity: token has %d signatures, want 1: %w", len(tok.Headers), ErrMalformed)
	}
	key, err := v.key(ctx, keys, h)
	if err != nil {
		return nil, err
	}
	c, err := decode(tok, key.Key)
	if err != nil {
		return nil, err
	}
	if err := v.check(c, route, now); err != nil {
		return nil, err
	}
	return &verified{claims: c, issuer: v.namespace(c), route: route, kid: h.kid, key: key}, nil
}

// decode verifies the signature with key and decodes the claim set once.
func decode(tok *jwt.JSONWebToken, key any) (*Claims, error) {
	var raw map[string]any
	if err := tok.Claims(key, &raw); err != nil {
		return nil, claimsError(err)
	}
	if raw == nil {
		return nil, fmt.Errorf("identity: claim set is null, want a JSON object: %w", ErrMalformed)
	}
	return typed(raw)
}

// namespace is the issuer under which replay and revocation state of c is
// kept: the verifier's issuer, or spiffe://trust-domain for a JWT-SVID.
func (v *Verifier) namespace(c *Claims) string {
	if v.bundles != nil {
		return "spiffe://" + c.TrustDomain
	}
	return v.issuer
}

// key fetches the key the header names and checks that it fits the header's alg.
func (v *Verifier) key(ctx context.Context, keys Keys, h header) (*jose.JSONWebKey, error) {
	k, err := keys.Key(ctx, h.kid)
	switch {
	case errors.Is(err, ErrUnknownKey) || errors.Is(err, ErrKeysUnavailable):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("identity: key %.64q: %w", h.kid, err)
	case k == nil || k.Key == nil:
		return nil, fmt.Errorf("identity: no key with kid %.64q: %w", h.kid, ErrUnknownKey)
	case !k.IsPublic():
		return nil, fmt.Errorf("identity: key %.64q is not a public key: %w", h.kid, ErrKeySet)
	}
	if k.Algorithm != "" && k.Algorithm != string(h.alg) {
		return nil, fmt.Errorf("identity: key %.64q is for %s, token says %s: %w", h.kid, k.Algorithm, h.alg, ErrAlgorithm)
	}
	if err := fits(h.alg, k.Key); err != nil {
		return nil, fmt.Errorf("identity: key %.64q: %v: %w", h.kid, err, ErrAlgorithm)
	}
	return k, nil
}

// claimsError maps a go-jose verify-and-decode error to a sentinel.
func claimsError(err error) error {
	if errors.Is(err, jose.ErrCryptoFailure) {
		return fmt.Errorf("identity: signature does not verify: %w", ErrSignature)
	}
	return fmt.Errorf("identity: claims: %v: %w", err, ErrMalformed)
}
