package identity

import (
	"errors"
	"fmt"
	"slices"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Defaults and bounds of [VerifierOptions].
const (
	DefaultLeeway       = 30 * time.Second
	MaxLeeway           = 60 * time.Second
	DefaultMaxLifetime  = time.Hour
	DefaultType         = "mg+jwt"
	DefaultMaxTokenSize = 8 << 10
	defaultCacheSize    = 10000
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
	// "at+jwt" for third-party issuers. (For [NewSVIDVerifier], empty means
	// absent, "JWT" or "JOSE".)
	Type string

	// Types, if set, is the set of accepted typ values instead of Type (setting
	// both is an error), e.g. {"JWT", "at+jwt"}. Each is compared exactly; an
	// empty value is an error (see AllowMissingType).
	Types []string

	// AllowMissingType also accepts a token whose protected header has no typ
	// at all, as many identity providers emit. Off by default: a token without
	// typ is refused with ErrType, so a token minted for another purpose by the
	// same issuer is not taken for a model identity (RFC 8725 §3.11).
	AllowMissingType bool

	// MaxTokenSize is the longest token, in bytes, that Verify will look at; it
	// is checked before any parsing. Zero means DefaultMaxTokenSize (8 KiB).
	MaxTokenSize int

	// Now is the clock. Nil means time.Now.
	Now func() time.Time

	// CacheSize is the number of verified tokens kept for reuse (see "Caching"
	// in the package documentation). Zero means 10,000;
	// negative disables the cache.
	CacheSize int

	// Delegation holds the rules for delegated tokens (the act chain). The
	// zero value applies none beyond the may_act check.
	Delegation Delegation

	// Store, if set, is consulted on every call for revocations (see
	// [Revocation]) and, with OneTime, for replays. A Store that cannot answer
	// makes Verify refuse the token with ErrStore.
	Store Store

	// OneTime makes every token single-use: its jti (required) is recorded in
	// Store, keyed on issuer and decoded jti, until exp plus the leeway, and a
	// second presentation is refused with ErrReplay. It needs Store, and turns
	// the verified-token cache off.
	OneTime bool

	// RevocationInterval is the longest a revocation list loaded from Store is
	// used before it is loaded again: the bound on how long a revocation takes
	// to reach every instance. Zero means DefaultRevocationInterval (5s).
	RevocationInterval time.Duration
}

// newVerifier applies opts for a verifier of audience (and issuer, if any). It
// returns every problem found; the verifier is usable only if there are none.
func newVerifier(issuer, audience string, opts VerifierOptions) (*Verifier, []error) {
	var errs []error
	if audience == "" {
		errs = append(errs, fmt.Errorf("identity: verifier needs an audience: %w", ErrConfig))
	}
	algs, err := allowList(opts.Algorithms)
	errs = append(append(errs, err), opts.Delegation.checkPatterns()...)
	v := &Verifier{issuer: issuer, audience: audience, algs: algs, now: opts.Now,
		delegation: opts.Delegation, store: opts.Store, oneTime: opts.OneTime}
	v.delegation.Actors = slices.Clone(opts.Delegation.Actors)
	errs = append(errs, v.setLimits(opts), v.setStore(opts))
	if errors.Join(errs...) != nil {
		return nil, errs
	}
	if v.now == nil {
		v.now = time.Now
	}
	if opts.CacheSize >= 0 && !opts.OneTime {
		v.cache = newCache(orDefault(opts.CacheSize, defaultCacheSize))
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
	switch {
	case opts.Type != "" && len(opts.Types) > 0:
		bad("both Type and Types set")
	case slices.Contains(opts.Types, ""):
		bad("an empty value in Types (use AllowMissingType to accept a token without typ)")
	case len(opts.Types) > 0:
		v.types = slices.Clone(opts.Types)
	default:
		v.types = []string{orDefault(opts.Type, DefaultType)}
	}
	if opts.AllowMissingType {
		v.types = append(v.types, "")
	}
	return errors.Join(errs...)
}

// setStore checks the replay and revocation options.
func (v *Verifier) setStore(opts VerifierOptions) error {
	switch {
	case opts.OneTime && opts.Store == nil:
		return fmt.Errorf("identity: OneTime needs a Store: %w", ErrConfig)
	case opts.RevocationInterval < 0:
		return fmt.Errorf("identity: negative revocation interval %s: %w", opts.RevocationInterval, ErrConfig)
	case opts.Store != nil:
		v.revs = newRevocations(opts.Store, orDefault(opts.RevocationInterval, DefaultRevocationInterval))
	}
	return nil
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
