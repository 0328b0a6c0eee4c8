// Package identity verifies and mints the signed identity tokens that make an AI
// model a governed subject: who the model is ([Model], agent, tenant, env), what
// it may do (scope), and on whose behalf it acts (the RFC 8693 act chain).
//
// A token is a JWT in the JWS compact serialization, signed with an asymmetric
// key. The package is built on go-jose and is deliberately narrower than JWT
// allows: every knob that has produced a JWT vulnerability is fixed shut.
//
// # Verifying tokens
//
// A [Verifier] accepts tokens from one issuer for one audience, signed by keys
// from one [Keys] source. [Verifier.Verify] checks, in this order, and stops at
// the first failure:
//
//  1. size: at most VerifierOptions.MaxTokenSize bytes, before any parsing;
//  2. shape: three canonical base64url segments (no JSON serialization, no JWE,
//     no white space, no alternative encodings of the same bytes);
//  3. protected header: only alg, kid and typ; alg in the allow-list (EdDSA and
//     ES256 by default, RS256 and PS256 on request, never none or HS*); typ
//     exactly VerifierOptions.Type; kid present. jku, x5u, jwk, x5c, crit, cty
//     and every other parameter are refused before any key is looked up, so a
//     token can never bring its own key;
//  4. key: the key named by kid, which must be a public key that fits alg;
//  5. signature, then the claim set, decoded once by go-jose's JSON decoder
//     (which rejects duplicate keys); a known claim of the wrong type is
//     malformed;
//  6. claims: iss, sub, aud, exp, iat and jti present; iss exact; aud contains
//     the audience; exp, nbf and iat within the leeway of now; exp − iat at
//     most VerifierOptions.MaxLifetime; the delegation rules;
//  7. state: not revoked, and (for one-time tokens) not used before.
//
// The result is a [Claims] value, the form policy expressions see.
//
// # Minting tokens
//
// An [Issuer] signs short-lived tokens (5 minutes by default) with one private
// key; [GenerateKey] makes one. [Issuer.Mint] fills iss, iat, nbf, exp and a
// random jti, and writes only alg, kid and typ in the header. The companion
// package identitytest mints valid and deliberately broken tokens for tests.
//
// # Key sets
//
// A [KeySet] is an immutable set of public keys indexed by kid, built with
// [NewKeySet], [ParseKeySet] (a JWK Set document) or [LoadKeySet]. A set is
// checked as a whole when it is built, and a set with any problem is refused
// with every problem listed: private key material, symmetric keys, RSA keys
// under 2048 bits, curves other than P-256, a use other than "sig", an alg that
// does not fit the key, an empty or repeated kid, or no keys at all.
//
// # Remote key sets and rotation
//
// A [RemoteKeys] serves keys from a JWK Set fetched over HTTPS. It honours
// Cache-Control max-age (within bounds), refreshes conditionally, fetches at
// once for an unknown kid but at most once per MinRefresh, keeps the last good
// set while the endpoint fails or serves a set that breaks the rules above,
// and fails closed with [ErrKeysUnavailable] once that set is older than
// MaxStale. To rotate, publish the new key beside the old one, sign with it
// (verifiers fetch it on first sight of its kid), and remove the old key once
// the tokens it signed have expired; `modelguard keys rotate` does the first
// step and marks the old key for the last.
//
// # Several issuers
//
// A [MultiVerifier] routes each token, by its iss, to the [Verifier] of that
// issuer, each with its own key set; sets are never merged, so no issuer's key
// can vouch for another issuer's tokens.
//
// # SPIFFE
//
// [NewSVIDVerifier] verifies SPIFFE JWT-SVIDs: the key set is the bundle of
// the trust domain named by the token's sub, from a [Bundles] source, and the
// claim rules are those of the JWT-SVID specification. Claims.SPIFFEID and
// Claims.TrustDomain carry the result to policy (identity.spiffe_id,
// identity.trust_domain). The identity/spiffe module adapts go-spiffe bundle
// sources, including the Workload API, and matches SPIFFE IDs; it is a module
// of its own so that the core does not depend on gRPC.
//
// # Delegation
//
// The RFC 8693 act claim is flattened into Claims.Act (current actor first),
// with Claims.ActDepth and Claims.Origin (the party the chain starts from);
// may_act becomes Claims.MayAct. A token whose current actor is not the party
// its own may_act names is refused. VerifierOptions.Delegation adds a maximum
// depth, allowed actor patterns and scope attenuation; a violation is a
// [*DelegationError].
//
// # Replay and revocation
//
// With VerifierOptions.Store, a verifier consults a [Store] on every call:
// revocations (by jti, subject, agent or key id, see [Revocation]) are loaded
// at most every RevocationInterval and refuse matching tokens with
// [ErrRevoked], cached ones included; with OneTime, each jti (keyed on
// issuer and decoded jti, so two spellings of one token are one token) is
// recorded until exp plus the leeway and a second use is refused with
// [ErrReplay]. A store that cannot answer refuses with [ErrStore]. A
// [MemoryStore] serves one process; the identity/postgres module shares the
// state between instances.
//
// # Caching
//
// A token is typically presented on every tool call of a session, so a
// [Verifier] remembers the claims of tokens it has verified, keyed by the exact
// token string, for at most VerifierOptions.CacheSize tokens. A hit costs a map
// lookup under a read lock, the time checks, a lookup of the signing key in
// the key source (so a key that was removed, replaced, or can no longer be
// vouched for sends the token back through full verification) and the
// revocation check: an entry is served only while the current time is inside
// the window in which the full checks would pass (never after exp plus the
// leeway), and is evicted once past it. Failures are never cached, and a
// one-time verifier caches nothing.
//
// # Errors
//
// Each rejection wraps one sentinel ([ErrMalformed], [ErrTooLarge],
// [ErrAlgorithm], [ErrHeader], [ErrType], [ErrUnknownKey], [ErrSignature],
// [ErrIssuer], [ErrAudience], [ErrExpired], [ErrNotYetValid],
// [ErrIssuedInFuture], [ErrLifetime], [ErrMissingClaim], [ErrDelegation],
// [ErrRevoked], [ErrReplay], [ErrStore], [ErrKeysUnavailable]) in a message
// that says what was wrong; branch with [errors.Is]. Constructors report every
// problem at once, wrapping [ErrKeySet], [ErrAlgorithm] or [ErrConfig]. A
// caller that finds no token reports [ErrNoToken]. Whatever the error, the
// answer is no.
package identity
