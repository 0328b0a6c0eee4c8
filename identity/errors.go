package identity

import "errors"

// Sentinel errors. Every error returned by [Verifier.Verify] wraps exactly one of
// the rejection sentinels below, with a message that says what was wrong; test
// for them with [errors.Is]. A caller that only needs a yes/no must treat any
// error as a denial.
var (
	// ErrMalformed: the token is not a well-formed JWS compact serialization with a
	// JSON claim set, or a known claim has the wrong JSON type.
	ErrMalformed = errors.New("identity: malformed token")
	// ErrTooLarge: the token is longer than VerifierOptions.MaxTokenSize. It is
	// checked before any parsing.
	ErrTooLarge = errors.New("identity: token too large")
	// ErrAlgorithm: the alg header is not in the verifier's allow-list (none and
	// HS* never are), or does not fit the key it names.
	ErrAlgorithm = errors.New("identity: algorithm not allowed")
	// ErrHeader: the protected header holds a parameter other than alg, kid and
	// typ (jku, x5u, jwk, x5c, crit, cty, …), or lacks kid.
	ErrHeader = errors.New("identity: forbidden or missing header")
	// ErrType: the typ header is absent or differs from VerifierOptions.Type.
	ErrType = errors.New("identity: wrong token type")
	// ErrUnknownKey: no key with the token's kid is known.
	ErrUnknownKey = errors.New("identity: unknown key")
	// ErrSignature: the signature does not verify with the key named by kid.
	ErrSignature = errors.New("identity: invalid signature")
	// ErrIssuer: the iss claim is not the verifier's issuer.
	ErrIssuer = errors.New("identity: wrong issuer")
	// ErrAudience: the aud claim does not contain the verifier's audience.
	ErrAudience = errors.New("identity: wrong audience")
	// ErrExpired: now is after exp plus the leeway.
	ErrExpired = errors.New("identity: expired")
	// ErrNotYetValid: now plus the leeway is before nbf.
	ErrNotYetValid = errors.New("identity: not yet valid")
	// ErrIssuedInFuture: iat is after now plus the leeway.
	ErrIssuedInFuture = errors.New("identity: issued in the future")
	// ErrLifetime: exp − iat exceeds VerifierOptions.MaxLifetime, or exp is
	// before iat.
	ErrLifetime = errors.New("identity: lifetime too long")
	// ErrMissingClaim: a required claim (iss, sub, aud, exp, iat, jti, or the sub
	// of an act entry) is absent or empty.
	ErrMissingClaim = errors.New("identity: missing claim")

	// ErrDelegation: the act chain breaks the verifier's [Delegation] rules
	// (depth, allowed actors, scope attenuation) or contradicts may_act. The
	// error is a [*DelegationError] that says which rule.
	ErrDelegation = errors.New("identity: delegation not allowed")
	// ErrRevoked: the token, its subject, agent or signing key was revoked (see
	// [Revocation]).
	ErrRevoked = errors.New("identity: revoked")
	// ErrReplay: the token's jti was already used and the verifier requires
	// one-time use (VerifierOptions.OneTime).
	ErrReplay = errors.New("identity: token already used")
	// ErrStore: the replay and revocation [Store] could not answer (unreachable,
	// full, or its answer is older than the verifier allows). The token is
	// refused because its state is unknown.
	ErrStore = errors.New("identity: replay or revocation store unavailable")
	// ErrKeysUnavailable: the key source has no key set it may use: a remote
	// JWK Set that could not be fetched, or whose last good copy is older than
	// its MaxStale, or a SPIFFE trust bundle that is missing.
	ErrKeysUnavailable = errors.New("identity: keys unavailable")

	// ErrKeySet: a key set (or a key handed to [NewIssuer]) breaks the key
	// hygiene rules: private or symmetric material, weak RSA, wrong use or alg,
	// missing or duplicate kid.
	ErrKeySet = errors.New("identity: bad key set")
	// ErrConfig: a constructor was given options it cannot honour.
	ErrConfig = errors.New("identity: invalid configuration")
	// ErrNoToken: no token was found where one was required (for callers that read
	// the token with [TokenFromContext]).
	ErrNoToken = errors.New("identity: no token")
)
