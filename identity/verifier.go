package identity

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Defaults and bounds of [VerifierOptions].
const (
	DefaultLeeway       = 30 * time.Second
	MaxLeeway           = 60 * time.Second
	DefaultMaxLifetime  = time.Hour
	DefaultType         = "mg+jwt"
	DefaultMaxTokenSize = 8 << 10
	DefaultCacheSize    = 10000
)

// VerifierOptions tunes a [Verifier]. The zero value is the safe default for a
// modelguard issuer; each field documents its own default.
type VerifierOptions struct {
	// Algorithms is the allow-list for the alg header. Default: EdDSA and ES256.
	// RS256 and PS256 may be added (their keys must be RSA of at least 2048
	// bits). none, HS256/384/512 and anything else are refused with ErrAlgorithm.
	Algorithms []jose.SignatureAlgorithm

	// Leeway absorbs clock skew in the exp, nbf and iat checks. Zero means
	// DefaultLeeway (30s); negative means no leeway; above MaxLeeway (60s) is an
	// error.
	Leeway time.Duration

	// MaxLifetime bounds exp − iat. Zero means DefaultMaxLifetime (1h).
	MaxLifetime time.Duration

	// Type is the required value of the typ header, compared exactly
	// (case-sensitive, no "application/" prefix). A token without typ is refused.
	// Empty means DefaultType ("mg+jwt", what an [Issuer] writes); set "JWT" or
	// "at+jwt" for third-party issuers.
	Type string

	// MaxTokenSize is the longest token, in bytes, that Verify will look at; it
	// is checked before any parsing. Zero means DefaultMaxTokenSize (8 KiB).
	MaxTokenSize int

	// Now is the clock. Nil means time.Now.
	Now func() time.Time

	// CacheSize is the number of verified tokens kept for reuse (see "Caching"
	// in the package documentation). Zero means DefaultCacheSize (10000);
	// negative disables the cache.
	CacheSize int
}

// Verifier checks model identity tokens from one issuer for one audience. It is
// immutable after construction and safe for concurrent use.
type Verifier struct {
	issuer, audience string
	keys             Keys
	algs             []jose.SignatureAlgorithm
	leeway           time.Duration
	maxLifetime      time.Duration
	typ              string
	maxSize          int
	now              func() time.Time
	cache            *cache
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
	if audience == "" {
		errs = append(errs, fmt.Errorf("identity: verifier needs an audience: %w", ErrConfig))
	}
	if ks, ok := keys.(*KeySet); keys == nil || ok && ks == nil {
		errs = append(errs, fmt.Errorf("identity: verifier needs keys: %w", ErrConfig))
	}
	algs, err := allowList(opts.Algorithms)
	errs = append(errs, err)
	v := &Verifier{issuer: issuer, audience: audience, keys: keys, algs: algs, now: opts.Now}
	errs = append(errs, v.setLimits(opts))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if v.now == nil {
		v.now = time.Now
	}
	if opts.CacheSize >= 0 {
		v.cache = newCache(orDefault(opts.CacheSize, DefaultCacheSize))
	}
	return v, nil
}

// allowList validates and copies the algorithm allow-list.
func allowList(algs []jose.SignatureAlgorithm) ([]jose.SignatureAlgorithm, error) {
	if len(algs) == 0 {
		return []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256}, nil
	}
	var errs []error
	for _, a := range algs {
		if !slices.Contains(supportedAlgs, a) {
			errs = append(errs, fmt.Errorf("identity: alg %.32q %s: %w", a, algProblem(a), ErrAlgorithm))
		}
	}
	return slices.Clone(algs), errors.Join(errs...)
}

// setLimits applies the numeric options and their defaults.
func (v *Verifier) setLimits(opts VerifierOptions) error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("identity: "+format+": %w", append(args, ErrConfig)...))
	}
	switch {
	case opts.Leeway > MaxLeeway:
		bad("leeway %s exceeds %s", opts.Leeway, MaxLeeway)
	case opts.Leeway > 0:
		v.leeway = opts.Leeway
	case opts.Leeway == 0:
		v.leeway = DefaultLeeway
	}
	if opts.MaxLifetime < 0 {
		bad("negative max lifetime %s", opts.MaxLifetime)
	}
	if opts.MaxTokenSize < 0 {
		bad("negative max token size %d", opts.MaxTokenSize)
	}
	v.maxLifetime = orDefault(opts.MaxLifetime, DefaultMaxLifetime)
	v.maxSize = orDefault(opts.MaxTokenSize, DefaultMaxTokenSize)
	v.typ = orDefault(opts.Type, DefaultType)
	return errors.Join(errs...)
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// Issuer returns the issuer the verifier requires.
func (v *Verifier) Issuer() string { return v.issuer }

// Audience returns the audience the verifier requires.
func (v *Verifier) Audience() string { return v.audience }

// Verify checks token and returns its claims. On failure the error wraps exactly
// one rejection sentinel ([ErrTooLarge], [ErrMalformed], [ErrHeader],
// [ErrAlgorithm], [ErrType], [ErrUnknownKey], [ErrSignature], [ErrMissingClaim],
// [ErrIssuer], [ErrAudience], [ErrExpired], [ErrNotYetValid],
// [ErrIssuedInFuture], [ErrLifetime]) or an error from the key source. The
// returned claims may be shared with other callers and must not be modified.
//
// ctx is passed to the key source.
func (v *Verifier) Verify(ctx context.Context, token string) (*Claims, error) {
	if len(token) > v.maxSize {
		return nil, fmt.Errorf("identity: token of %d bytes exceeds %d: %w", len(token), v.maxSize, ErrTooLarge)
	}
	now := v.now()
	if c := v.cache.get(token, now); c != nil {
		return c, nil
	}
	c, err := v.verify(ctx, token, now)
	if err != nil {
		return nil, err
	}
	lo, hi := v.window(c)
	v.cache.put(token, c, lo, hi, now)
	return c, nil
}

// verify runs every check, cheapest first; nothing reaches go-jose before the
// header has passed the allow-lists.
func (v *Verifier) verify(ctx context.Context, token string, now time.Time) (*Claims, error) {
	hseg, _, _, err := split(token)
	if err != nil {
		return nil, err
	}
	h, err := v.header(hseg)
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
	key, err := v.key(ctx, h)
	if err != nil {
		return nil, err
	}
	var raw map[string]any
	if err := tok.Claims(key, &raw); err != nil {
		return nil, claimsError(err)
	}
	if raw == nil {
		return nil, fmt.Errorf("identity: claim set is null, want a JSON object: %w", ErrMalformed)
	}
	c, err := typed(raw)
	if err != nil {
		return nil, err
	}
	if err := v.check(c, now); err != nil {
		return nil, err
	}
	return c, nil
}

// key fetches the key the header names and checks that it fits the header's alg.
func (v *Verifier) key(ctx context.Context, h header) (any, error) {
	k, err := v.keys.Key(ctx, h.kid)
	switch {
	case errors.Is(err, ErrUnknownKey):
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
	return k.Key, nil
}

// claimsError maps a go-jose verify-and-decode error to a sentinel.
func claimsError(err error) error {
	if errors.Is(err, jose.ErrCryptoFailure) {
		return fmt.Errorf("identity: signature does not verify: %w", ErrSignature)
	}
	return fmt.Errorf("identity: claims: %v: %w", err, ErrMalformed)
}
