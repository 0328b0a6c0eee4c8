package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// DefaultTTL is the lifetime of a token minted by an [Issuer] without
// IssuerOptions.TTL.
const DefaultTTL = 5 * time.Minute

// IssuerOptions tunes an [Issuer]. The zero value is the default.
type IssuerOptions struct {
	// TTL is the lifetime of minted tokens whose Claims leave Expiry zero.
	// Zero means DefaultTTL (5m).
	TTL time.Duration
	// Type is the typ header written on every token. Empty means DefaultType
	// ("mg+jwt").
	Type string
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// Issuer mints short-lived model identity tokens signed with one private key. It
// is immutable and safe for concurrent use.
type Issuer struct {
	issuer string
	pub    jose.JSONWebKey
	signer jose.Signer
	ttl    time.Duration
	now    func() time.Time
}

// NewIssuer returns an issuer that signs as issuer with key: a private Ed25519,
// P-256 or RSA (≥ 2048 bits) JWK with a kid. Its alg, if set, picks the
// algorithm (RS256 or PS256 for RSA); otherwise it follows from the key type.
// Key problems wrap [ErrKeySet], the others [ErrConfig].
func NewIssuer(issuer string, key jose.JSONWebKey, opts IssuerOptions) (*Issuer, error) {
	var errs []error
	if issuer == "" {
		errs = append(errs, fmt.Errorf("identity: issuer needs a name: %w", ErrConfig))
	}
	if opts.TTL < 0 {
		errs = append(errs, fmt.Errorf("identity: negative TTL %s: %w", opts.TTL, ErrConfig))
	}
	for _, p := range checkKey(&key, true) {
		errs = append(errs, fmt.Errorf("identity: signing key (kid %.64q): %s: %w", key.KeyID, p, ErrKeySet))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	alg := keyAlg(&key)
	so := (&jose.SignerOptions{}).WithType(jose.ContentType(orDefault(opts.Type, DefaultType)))
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, so)
	if err != nil {
		return nil, fmt.Errorf("identity: signing key (kid %.64q): %v: %w", key.KeyID, err, ErrKeySet)
	}
	pub := key.Public()
	pub.Algorithm = string(alg)
	i := &Issuer{issuer: issuer, pub: pub, signer: signer, ttl: orDefault(opts.TTL, DefaultTTL), now: opts.Now}
	if i.now == nil {
		i.now = time.Now
	}
	return i, nil
}

// PublicKey returns the public half of the signing key, with its kid, alg and
// use, ready for a [KeySet].
func (i *Issuer) PublicKey() jose.JSONWebKey {
	if i == nil {
		return jose.JSONWebKey{}
	}
	return i.pub
}

// registered are the claims Mint writes from the typed fields of [Claims]; the
// same names in Claims.Raw are ignored.
var registered = map[string]bool{
	"iss": true, "sub": true, "aud": true, "exp": true, "nbf": true, "iat": true, "jti": true,
	"model": true, "agent": true, "tenant": true, "env": true, "scope": true, "act": true,
	"may_act": true,
}

// Mint signs a token carrying c. Subject and Audience are required; Issuer must
// be empty or the issuer's own name. Zero times default to IssuedAt = now,
// Expiry = IssuedAt + TTL, NotBefore = IssuedAt; an empty ID becomes 128 random
// bits. Scope wins over Scopes when both are set. Act is written as the nested
// act claim, Act[0] outermost, and a non-zero MayAct as may_act. ActDepth,
// Origin, SPIFFEID and TrustDomain are derived by verifiers and ignored here.
// Entries of Raw whose names are not registered claims are written as custom
// claims.
func (i *Issuer) Mint(c Claims) (string, error) {
	m, err := i.claimSet(&c)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("identity: encode claims: %w", err)
	}
	sig, err := i.signer.Sign(b)
	if err != nil {
		return "", fmt.Errorf("identity: sign: %w", err)
	}
	return sig.CompactSerialize()
}

// claimSet builds the JSON claim set for c.
func (i *Issuer) claimSet(c *Claims) (map[string]any, error) {
	if c.Issuer != "" && c.Issuer != i.issuer {
		return nil, fmt.Errorf("identity: claims name issuer %q, this issuer is %q: %w", c.Issuer, i.issuer, ErrIssuer)
	}
	if c.Subject == "" || len(c.Audience) == 0 {
		return nil, fmt.Errorf("identity: minting needs sub and aud: %w", ErrMissingClaim)
	}
	iat := orTime(c.IssuedAt, i.now())
	exp := orTime(c.Expiry, iat.Add(i.ttl))
	if !exp.After(iat) {
		return nil, fmt.Errorf("identity: expiry %s is not after issued-at %s: %w", stamp(exp), stamp(iat), ErrLifetime)
	}
	scope, err := scopeClaim(c)
	if err != nil {
		return nil, err
	}
	act, err := nest(c.Act)
	if err != nil {
		return nil, err
	}
	m := make(map[string]any, len(c.Raw)+len(registered))
	for k, v := range c.Raw {
		if !registered[k] {
			m[k] = v
		}
	}
	m["iss"], m["sub"], m["aud"], m["jti"] = i.issuer, c.Subject, jwt.Audience(c.Audience), c.ID
	if c.ID == "" {
		m["jti"] = newID()
	}
	m["iat"], m["exp"], m["nbf"] = iat.Unix(), exp.Unix(), orTime(c.NotBefore, iat).Unix()
	setNonZero(m, "model", c.Model)
	setNonZero(m, "agent", c.Agent)
	setNonZero(m, "tenant", c.Tenant)
	setNonZero(m, "env", c.Env)
	setNonZero(m, "scope", scope)
	if act != nil {
		m["act"] = act
	}
	if c.MayAct != (Actor{}) {
		if c.MayAct.Subject == "" {
			return nil, fmt.Errorf("identity: may_act has no subject: %w", ErrMissingClaim)
		}
		m["may_act"] = actorClaim(c.MayAct)
	}
	return m, nil
}

// actorClaim is the JSON object of one actor: sub, and iss and scope if set.
func actorClaim(a Actor) map[string]any {
	m := map[string]any{"sub": a.Subject}
	setNonZero(m, "iss", a.Issuer)
	setNonZero(m, "scope", a.Scope)
	return m
}

func setNonZero[T comparable](m map[string]any, k string, v T) {
	var zero T
	if v != zero {
		m[k] = v
	}
}

func orTime(t, def time.Time) time.Time {
	if t.IsZero() {
		return def
	}
	return t
}

// scopeClaim returns the scope string for c, refusing scopes that would not
// survive the space-separated encoding.
func scopeClaim(c *Claims) (string, error) {
	if c.Scope != "" {
		return c.Scope, nil
	}
	for _, s := range c.Scopes {
		if s == "" || strings.ContainsFunc(s, unicode.IsSpace) {
			return "", fmt.Errorf("identity: scope %q is empty or contains white space: %w", s, ErrMalformed)
		}
	}
	return strings.Join(c.Scopes, " "), nil
}

// nest turns a flat delegation chain into the nested RFC 8693 act claim.
func nest(chain []Actor) (map[string]any, error) {
	if len(chain) > maxActDepth {
		return nil, fmt.Errorf("identity: delegation chain of %d exceeds %d: %w", len(chain), maxActDepth, ErrMalformed)
	}
	var inner map[string]any
	for i := len(chain) - 1; i >= 0; i-- {
		a := chain[i]
		if a.Subject == "" {
			return nil, fmt.Errorf("identity: actor %d has no subject: %w", i, ErrMissingClaim)
		}
		m := actorClaim(a)
		if inner != nil {
			m["act"] = inner
		}
		inner = m
	}
	return inner, nil
}

// newID returns 128 random bits, base64url-encoded.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails; crypto/rand panics instead
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// GenerateKey returns a fresh private signing key for alg (EdDSA or ES256) with
// use "sig" and the given kid; an empty kid becomes the key's RFC 7638
// thumbprint (SHA-256, base64url).
func GenerateKey(alg jose.SignatureAlgorithm, kid string) (jose.JSONWebKey, error) {
	var priv any
	var err error
	switch alg {
	case jose.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return jose.JSONWebKey{}, fmt.Errorf("identity: cannot generate %.32q keys (use EdDSA or ES256): %w", alg, ErrAlgorithm)
	}
	if err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("identity: generate key: %w", err)
	}
	k := jose.JSONWebKey{Key: priv, KeyID: kid, Algorithm: string(alg), Use: "sig"}
	if kid == "" {
		tp, err := k.Thumbprint(crypto.SHA256)
		if err != nil {
			return jose.JSONWebKey{}, fmt.Errorf("identity: key thumbprint: %w", err)
		}
		k.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	}
	return k, nil
}
