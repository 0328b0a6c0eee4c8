package identity

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/json"
)

// Keys is a source of verification keys, consumed by a [Verifier]. Key returns
// the public key whose kid is kid, or an error wrapping [ErrUnknownKey] when
// there is none. The returned key is shared and must not be modified.
//
// [KeySet] is the static implementation, [RemoteKeys] serves a JWK Set over
// HTTPS, and SPIFFE trust bundles come through [Bundles]. A [Verifier] calls
// Key on every Verify, cache hits included (a cached token is served only
// while Key still returns the very key that verified it), so Key must be
// cheap and must return the same *JSONWebKey for an unchanged key.
// Implementations must be safe for concurrent use.
type Keys interface {
	Key(ctx context.Context, kid string) (*jose.JSONWebKey, error)
}

// KeySet is an immutable set of public verification keys, indexed by kid. It is
// safe for concurrent use. The zero value (and a nil *KeySet) is an empty set,
// which knows no key; build one with
// [NewKeySet], [ParseKeySet] or [LoadKeySet], which refuse any set that breaks
// the hygiene rules (see the package documentation, "Key sets").
type KeySet struct {
	keys []jose.JSONWebKey
	byID map[string]*jose.JSONWebKey
}

// minRSABits is the smallest RSA modulus accepted anywhere in the package.
const minRSABits = 2048

// maxKeySetSize bounds a JWK Set document read by [ParseKeySet] and [LoadKeySet].
const maxKeySetSize = 1 << 20

// entry is a key with its position in the caller's input, for error messages.
type entry struct {
	pos int
	key jose.JSONWebKey
}

// NewKeySet returns a set holding keys. Every key must be a public signature key
// with a unique, non-empty kid. A bad set is an error, never a partial set: the
// error joins one [ErrKeySet]-wrapped error per problem found.
func NewKeySet(keys ...jose.JSONWebKey) (*KeySet, error) {
	entries := make([]entry, len(keys))
	for i, k := range keys {
		entries[i] = entry{pos: i, key: k}
	}
	return build(entries, nil)
}

// ParseKeySet parses a JWK Set document (RFC 7517 §5) and applies the same rules
// as [NewKeySet]. Every key of the document must parse and pass: unknown key
// types are an error, not skipped.
func ParseKeySet(data []byte) (*KeySet, error) {
	if len(data) > maxKeySetSize {
		return nil, fmt.Errorf("identity: key set of %d bytes exceeds %d: %w", len(data), maxKeySetSize, ErrKeySet)
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("identity: key set is not a JWK Set: %v: %w", err, ErrKeySet)
	}
	var entries []entry
	var errs []error
	for i, raw := range doc.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			errs = append(errs, fmt.Errorf("identity: key %d: %v: %w", i, err, ErrKeySet))
			continue
		}
		entries = append(entries, entry{pos: i, key: k})
	}
	return build(entries, errs)
}

// LoadKeySet reads a JWK Set document from the file at path and parses it with
// [ParseKeySet].
func LoadKeySet(path string) (*KeySet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("identity: load key set: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeySetSize+1))
	if err != nil {
		return nil, fmt.Errorf("identity: load key set: %w", err)
	}
	s, err := ParseKeySet(data)
	if err != nil {
		return nil, fmt.Errorf("identity: load key set %s: %w", path, err)
	}
	return s, nil
}

// build checks every entry and returns the set, or all problems joined.
func build(entries []entry, errs []error) (*KeySet, error) {
	if len(entries) == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("identity: key set is empty: %w", ErrKeySet))
	}
	s := &KeySet{byID: make(map[string]*jose.JSONWebKey, len(entries))}
	first := make(map[string]int, len(entries))
	for _, e := range entries {
		for _, p := range checkKey(&e.key, false) {
			errs = append(errs, fmt.Errorf("identity: key %d (kid %.64q): %s: %w", e.pos, e.key.KeyID, p, ErrKeySet))
		}
		if at, dup := first[e.key.KeyID]; dup && e.key.KeyID != "" {
			errs = append(errs, fmt.Errorf("identity: key %d: kid %.64q already used by key %d: %w", e.pos, e.key.KeyID, at, ErrKeySet))
		}
		first[e.key.KeyID] = e.pos
		s.keys = append(s.keys, e.key)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for i := range s.keys {
		s.byID[s.keys[i].KeyID] = &s.keys[i]
	}
	return s, nil
}

// checkKey lists what is wrong with k as a verification key (private false) or
// as a signing key (private true).
func checkKey(k *jose.JSONWebKey, private bool) []string {
	var p []string
	if k.KeyID == "" {
		p = append(p, "empty kid")
	}
	if k.Use != "" && k.Use != "sig" {
		p = append(p, fmt.Sprintf("use %.32q, want \"sig\" or none", k.Use))
	}
	switch {
	case k.Key == nil:
		p = append(p, "no key material")
	case isSymmetric(k.Key):
		p = append(p, "symmetric key (only asymmetric signature keys are allowed)")
	case !private && !k.IsPublic():
		p = append(p, fmt.Sprintf("%s holds private key material (publish only the public part)", kind(k.Key)))
	case private && k.IsPublic():
		p = append(p, fmt.Sprintf("%s is public, a signing key must be private", kind(k.Key)))
	case !k.Valid():
		p = append(p, fmt.Sprintf("invalid %s", kind(k.Key)))
	default:
		pub := k.Public()
		if err := fits(keyAlg(k), pub.Key); err != nil {
			p = append(p, err.Error())
		}
	}
	return p
}

// keyAlg is the algorithm k declares, or the one its key type implies.
func keyAlg(k *jose.JSONWebKey) jose.SignatureAlgorithm {
	if k.Algorithm != "" {
		return jose.SignatureAlgorithm(k.Algorithm)
	}
	switch k.Key.(type) {
	case ed25519.PublicKey, ed25519.PrivateKey:
		return jose.EdDSA
	case *ecdsa.PublicKey, *ecdsa.PrivateKey:
		return jose.ES256
	case *rsa.PublicKey, *rsa.PrivateKey:
		return jose.RS256
	}
	return ""
}

func isSymmetric(key any) bool {
	_, ok := key.([]byte)
	return ok
}

// fits reports whether the public key pub can verify alg. It is on the verify
// hot path and does not allocate on success.
func fits(alg jose.SignatureAlgorithm, pub any) error {
	switch alg {
	case jose.EdDSA:
		if k, ok := pub.(ed25519.PublicKey); ok && len(k) == ed25519.PublicKeySize {
			return nil
		}
	case jose.ES256:
		if k, ok := pub.(*ecdsa.PublicKey); ok && k != nil && k.Curve == elliptic.P256() {
			return nil
		}
	case jose.RS256, jose.PS256:
		if k, ok := pub.(*rsa.PublicKey); ok && k != nil && k.N != nil {
			if n := k.N.BitLen(); n < minRSABits {
				return fmt.Errorf("RSA key of %d bits, want at least %d", n, minRSABits)
			}
			return nil
		}
	default:
		return fmt.Errorf("algorithm %.32q is not supported (use EdDSA, ES256, RS256 or PS256)", alg)
	}
	return fmt.Errorf("%s cannot verify %s", kind(pub), alg)
}

// kind names a key's type for error messages.
func kind(key any) string {
	switch k := key.(type) {
	case ed25519.PublicKey, ed25519.PrivateKey:
		return "Ed25519 key"
	case *ecdsa.PublicKey:
		return curveName(k.Curve) + " key"
	case *ecdsa.PrivateKey:
		return curveName(k.Curve) + " key"
	case *rsa.PublicKey, *rsa.PrivateKey:
		return "RSA key"
	case []byte:
		return "symmetric key"
	}
	return fmt.Sprintf("%T key", key)
}

func curveName(c elliptic.Curve) string {
	if c == nil || c.Params() == nil {
		return "EC"
	}
	return c.Params().Name
}

// Key returns the key whose kid is kid, or an error wrapping [ErrUnknownKey].
// The returned key is shared and must not be modified.
func (s *KeySet) Key(_ context.Context, kid string) (*jose.JSONWebKey, error) {
	if s == nil {
		return nil, fmt.Errorf("identity: no key with kid %.64q (nil key set): %w", kid, ErrUnknownKey)
	}
	if k, ok := s.byID[kid]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("identity: no key with kid %.64q: %w", kid, ErrUnknownKey)
}

// has reports whether the set holds a key with kid.
func (s *KeySet) has(kid string) bool {
	if s == nil {
		return false
	}
	_, ok := s.byID[kid]
	return ok
}

// Keys returns a copy of the set's keys, in the order they were given.
func (s *KeySet) Keys() []jose.JSONWebKey {
	if s == nil {
		return nil
	}
	return slices.Clone(s.keys)
}

// MarshalJSON writes the set as a public JWK Set document (RFC 7517 §5).
func (s *KeySet) MarshalJSON() ([]byte, error) {
	keys := s.Keys()
	if keys == nil {
		keys = []jose.JSONWebKey{}
	}
	return stdjson.Marshal(jose.JSONWebKeySet{Keys: keys})
}
