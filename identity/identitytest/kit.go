package identitytest

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/identity"
)

// Defaults of [Options].
const (
	DefaultIssuer   = "https://issuer.modelguard.test"
	DefaultAudience = "modelguard-test"
	DefaultSubject  = "model:test"
)

// Options configures a [Kit]. The zero value is the defaults.
type Options struct {
	// Issuer is the iss of minted tokens. Empty means DefaultIssuer.
	Issuer string
	// Audience is the default aud of minted tokens. Empty means DefaultAudience.
	Audience string
	// Start is the initial time of the kit's clock. Zero means the wall-clock
	// time at New, truncated to the second.
	Start time.Time
}

// Kit mints tokens for one issuer with one fresh Ed25519 key. It is safe for
// concurrent use.
type Kit struct {
	issuer, audience string
	key              jose.JSONWebKey
	priv             ed25519.PrivateKey
	keys             *identity.KeySet
	minter           *identity.Issuer
	clock            atomic.Int64 // Unix nanoseconds
}

// New returns a kit with a fresh key. It fails tb if the key cannot be made.
func New(tb testing.TB, opts Options) *Kit {
	tb.Helper()
	k := &Kit{issuer: opts.Issuer, audience: opts.Audience}
	if k.issuer == "" {
		k.issuer = DefaultIssuer
	}
	if k.audience == "" {
		k.audience = DefaultAudience
	}
	start := opts.Start
	if start.IsZero() {
		start = time.Now().Truncate(time.Second)
	}
	k.clock.Store(start.UnixNano())
	key, err := identity.GenerateKey(jose.EdDSA, "")
	must(tb, err)
	k.key, k.priv = key, key.Key.(ed25519.PrivateKey)
	k.minter = k.issuerFor(tb, k.issuer, key, "")
	k.keys, err = identity.NewKeySet(k.minter.PublicKey())
	must(tb, err)
	return k
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatalf("identitytest: %v", err)
	}
}

func (k *Kit) issuerFor(tb testing.TB, iss string, key jose.JSONWebKey, typ string) *identity.Issuer {
	tb.Helper()
	i, err := identity.NewIssuer(iss, key, identity.IssuerOptions{Now: k.Now, Type: typ})
	must(tb, err)
	return i
}

// Now returns the kit's clock.
func (k *Kit) Now() time.Time { return time.Unix(0, k.clock.Load()).UTC() }

// Advance moves the kit's clock by d (which may be negative).
func (k *Kit) Advance(d time.Duration) { k.clock.Add(int64(d)) }

// Issuer returns the iss of the kit's tokens.
func (k *Kit) Issuer() string { return k.issuer }

// Audience returns the default aud of the kit's tokens.
func (k *Kit) Audience() string { return k.audience }

// KeyID returns the kid of the kit's signing key.
func (k *Kit) KeyID() string { return k.key.KeyID }

// Keys returns the public key set that verifies the kit's tokens.
func (k *Kit) Keys() *identity.KeySet { return k.keys }

// Verifier returns a verifier for the kit's issuer, audience and keys. Unless
// opts.Now is set it reads the kit's clock. It fails tb on bad options.
func (k *Kit) Verifier(tb testing.TB, opts identity.VerifierOptions) *identity.Verifier {
	tb.Helper()
	if opts.Now == nil {
		opts.Now = k.Now
	}
	v, err := identity.NewVerifier(k.issuer, k.audience, k.keys, opts)
	must(tb, err)
	return v
}

// Mint returns a valid token carrying c, issued now by the kit's clock. An
// empty Subject becomes DefaultSubject and an empty Audience the kit's audience.
func (k *Kit) Mint(tb testing.TB, c identity.Claims) string {
	tb.Helper()
	return k.mintWith(tb, k.minter, c)
}

func (k *Kit) mintWith(tb testing.TB, i *identity.Issuer, c identity.Claims) string {
	tb.Helper()
	if c.Subject == "" {
		c.Subject = DefaultSubject
	}
	if c.Audience == nil {
		c.Audience = []string{k.audience}
	}
	tok, err := i.Mint(c)
	must(tb, err)
	return tok
}

// ClaimSet returns the JSON claim set of a valid token issued now, for building
// tokens by hand with [Kit.Sign].
func (k *Kit) ClaimSet() map[string]any {
	now := k.Now().Unix()
	return map[string]any{
		"iss": k.issuer, "sub": DefaultSubject, "aud": k.audience,
		"iat": now, "nbf": now, "exp": now + int64(identity.DefaultTTL/time.Second),
		"jti": "identitytest-jti",
	}
}

// Header returns the protected header of a valid token: alg, kid and typ.
func (k *Kit) Header() map[string]any {
	return map[string]any{"alg": string(jose.EdDSA), "kid": k.key.KeyID, "typ": identity.DefaultType}
}

// Sign builds a compact token from header and claims by hand and signs it with
// the kit's Ed25519 key, whatever the header says. It is the escape hatch for
// tokens that go-jose refuses to produce. header and claims are encoded with
// encoding/json; pass a [json.RawMessage] to control the bytes (for instance
// to repeat a key).
func (k *Kit) Sign(tb testing.TB, header, claims any) string {
	tb.Helper()
	input := encode(tb, header) + "." + encode(tb, claims)
	return input + "." + b64(ed25519.Sign(k.priv, []byte(input)))
}

func encode(tb testing.TB, v any) string {
	tb.Helper()
	b, err := json.Marshal(v)
	must(tb, err)
	return b64(b)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
