package identitytest

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/identity"
)

// Each method below returns a token that a verifier from [Kit.Verifier] with
// default options rejects with the sentinel named in its doc, and for no other
// reason: every other part of the token is valid.

// Broken is a token broken in one way, with the sentinel it must be rejected
// with.
type Broken struct {
	Name  string
	Token string
	Err   error
}

// ForbiddenHeaders are the header parameters [Kit.Broken] tries.
var ForbiddenHeaders = []string{"jku", "x5u", "jwk", "x5c", "x5t", "crit", "cty", "b64", "nonce", "zip"}

// RequiredClaims are the claims [Kit.Broken] removes one at a time.
var RequiredClaims = []string{"iss", "sub", "aud", "exp", "iat", "jti"}

// Broken returns every broken token the kit can make.
func (k *Kit) Broken(tb testing.TB) []Broken {
	tb.Helper()
	b := []Broken{
		{"expired", k.Expired(tb), identity.ErrExpired},
		{"not-yet-valid", k.NotYetValid(tb), identity.ErrNotYetValid},
		{"issued-in-future", k.IssuedInFuture(tb), identity.ErrIssuedInFuture},
		{"lifetime-too-long", k.LifetimeTooLong(tb), identity.ErrLifetime},
		{"wrong-issuer", k.WrongIssuer(tb), identity.ErrIssuer},
		{"wrong-audience", k.WrongAudience(tb), identity.ErrAudience},
		{"unknown-key", k.UnknownKey(tb), identity.ErrUnknownKey},
		{"bad-signature", k.BadSignature(tb), identity.ErrSignature},
		{"alg-none", k.AlgNone(tb), identity.ErrAlgorithm},
		{"hs256-confusion", k.HS256(tb), identity.ErrAlgorithm},
		{"wrong-type", k.WrongType(tb), identity.ErrType},
		{"too-large", k.TooLarge(tb), identity.ErrTooLarge},
	}
	for _, h := range ForbiddenHeaders {
		b = append(b, Broken{"header-" + h, k.ForbiddenHeader(tb, h), identity.ErrHeader})
	}
	for _, c := range RequiredClaims {
		b = append(b, Broken{"missing-" + c, k.MissingClaim(tb, c), identity.ErrMissingClaim})
	}
	return b
}

// Expired returns a token that expired five minutes ago ([identity.ErrExpired]).
func (k *Kit) Expired(tb testing.TB) string {
	tb.Helper()
	now := k.Now()
	return k.Mint(tb, identity.Claims{IssuedAt: now.Add(-10 * time.Minute), Expiry: now.Add(-5 * time.Minute)})
}

// NotYetValid returns a token whose nbf is five minutes ahead
// ([identity.ErrNotYetValid]).
func (k *Kit) NotYetValid(tb testing.TB) string {
	tb.Helper()
	now := k.Now()
	return k.Mint(tb, identity.Claims{IssuedAt: now, NotBefore: now.Add(5 * time.Minute), Expiry: now.Add(10 * time.Minute)})
}

// IssuedInFuture returns a token whose iat is five minutes ahead
// ([identity.ErrIssuedInFuture]).
func (k *Kit) IssuedInFuture(tb testing.TB) string {
	tb.Helper()
	now := k.Now()
	return k.Mint(tb, identity.Claims{IssuedAt: now.Add(5 * time.Minute), NotBefore: now, Expiry: now.Add(10 * time.Minute)})
}

// LifetimeTooLong returns a token valid for two hours, above the default
// MaxLifetime ([identity.ErrLifetime]).
func (k *Kit) LifetimeTooLong(tb testing.TB) string {
	tb.Helper()
	now := k.Now()
	return k.Mint(tb, identity.Claims{IssuedAt: now, Expiry: now.Add(2 * time.Hour)})
}

// WrongIssuer returns a token signed with the kit's key by another issuer
// ([identity.ErrIssuer]).
func (k *Kit) WrongIssuer(tb testing.TB) string {
	tb.Helper()
	return k.mintWith(tb, k.issuerFor(tb, "https://wrong-issuer.modelguard.test", k.key, ""), identity.Claims{})
}

// WrongAudience returns a token for another audience ([identity.ErrAudience]).
func (k *Kit) WrongAudience(tb testing.TB) string {
	tb.Helper()
	return k.Mint(tb, identity.Claims{Audience: []string{"someone-else"}})
}

// UnknownKey returns a token signed with a key the kit's key set does not hold
// ([identity.ErrUnknownKey]).
func (k *Kit) UnknownKey(tb testing.TB) string {
	tb.Helper()
	key, err := identity.GenerateKey(jose.EdDSA, "identitytest-unknown")
	must(tb, err)
	return k.mintWith(tb, k.issuerFor(tb, k.issuer, key, ""), identity.Claims{})
}

// BadSignature returns a valid token with one signature bit flipped
// ([identity.ErrSignature]).
func (k *Kit) BadSignature(tb testing.TB) string {
	tb.Helper()
	tok := k.Mint(tb, identity.Claims{})
	i := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	must(tb, err)
	sig[0] ^= 0x01
	return tok[:i+1] + b64(sig)
}

// AlgNone returns an unsigned token with alg "none" ([identity.ErrAlgorithm]).
func (k *Kit) AlgNone(tb testing.TB) string {
	tb.Helper()
	h := k.Header()
	h["alg"] = "none"
	return encode(tb, h) + "." + encode(tb, k.ClaimSet()) + "."
}

// HS256 returns the algorithm-confusion token: alg HS256, the kit's kid, and an
// HMAC computed with the public key as the secret ([identity.ErrAlgorithm]).
func (k *Kit) HS256(tb testing.TB) string {
	tb.Helper()
	h := k.Header()
	h["alg"] = "HS256"
	input := encode(tb, h) + "." + encode(tb, k.ClaimSet())
	mac := hmac.New(sha256.New, []byte(k.priv.Public().(ed25519.PublicKey)))
	mac.Write([]byte(input))
	return input + "." + b64(mac.Sum(nil))
}

// ForbiddenHeader returns a validly signed token whose protected header also
// carries the parameter name ([identity.ErrHeader]). Known names get a
// plausible value (jku an attacker URL, jwk the kit's own public key, crit
// ["exp"], …).
func (k *Kit) ForbiddenHeader(tb testing.TB, name string) string {
	tb.Helper()
	h := k.Header()
	h[name] = k.headerValue(name)
	return k.Sign(tb, h, k.ClaimSet())
}

func (k *Kit) headerValue(name string) any {
	switch name {
	case "jku", "x5u":
		return "https://attacker.example/keys"
	case "jwk":
		return k.key.Public()
	case "x5c":
		return []string{"MIIBszCCAVmgAwIBAgIUQ2Vy"}
	case "x5t", "x5t#S256":
		return "AAAAAAAAAAAAAAAAAAAAAAAAAAA"
	case "crit":
		return []string{"exp"}
	case "cty":
		return "JWT"
	case "b64":
		return false
	}
	return "x"
}

// WrongType returns a validly signed token with typ "JWT"
// ([identity.ErrType]).
func (k *Kit) WrongType(tb testing.TB) string {
	tb.Helper()
	h := k.Header()
	h["typ"] = "JWT"
	return k.Sign(tb, h, k.ClaimSet())
}

// MissingClaim returns a validly signed token without the claim name
// ([identity.ErrMissingClaim] when name is required).
func (k *Kit) MissingClaim(tb testing.TB, name string) string {
	tb.Helper()
	c := k.ClaimSet()
	delete(c, name)
	return k.Sign(tb, k.Header(), c)
}

// TooLarge returns a valid token padded past twice the default MaxTokenSize
// ([identity.ErrTooLarge]).
func (k *Kit) TooLarge(tb testing.TB) string {
	tb.Helper()
	pad := strings.Repeat("x", 2*identity.DefaultMaxTokenSize)
	return k.Mint(tb, identity.Claims{Raw: map[string]any{"padding": pad}})
}
