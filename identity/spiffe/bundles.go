package spiffe

import (
	"context"
	"fmt"
	"sync"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/spiffe/go-spiffe/v2/bundle/jwtbundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/modelguard/modelguard/identity"
)

// Bundles adapts a go-spiffe JWT bundle source (a static [jwtbundle.Bundle] or
// [jwtbundle.Set], or a Workload API [workloadapi.JWTSource] that streams
// updates) to [identity.Bundles]. It is safe for concurrent use.
//
// Each trust domain's bundle is converted into an [identity.KeySet] once per
// bundle version and held to the same hygiene rules as any key set: a bundle
// with a weak, symmetric or unsupported key is refused as a whole
// ([identity.ErrKeySet]), never loaded in part. A trust domain the source has
// no bundle for is refused with [identity.ErrIssuer].
type Bundles struct {
	src jwtbundle.Source
	mu  sync.Mutex
	by  map[spiffeid.TrustDomain]converted
}

// converted is the key set made from one bundle: the bundle as the source
// returned it, a copy of its content when it was converted (a Bundle is
// mutable), and the result.
type converted struct {
	bundle, snapshot *jwtbundle.Bundle
	keys             *identity.KeySet
	err              error
}

// NewBundles returns src adapted to [identity.Bundles].
func NewBundles(src jwtbundle.Source) *Bundles {
	return &Bundles{src: src, by: make(map[spiffeid.TrustDomain]converted)}
}

// Keys implements [identity.Bundles].
func (b *Bundles) Keys(_ context.Context, trustDomain string) (identity.Keys, error) {
	td, err := spiffeid.TrustDomainFromString(trustDomain)
	if err != nil {
		return nil, fmt.Errorf("spiffe: trust domain %.255q: %v: %w", trustDomain, err, identity.ErrIssuer)
	}
	bundle, err := b.src.GetJWTBundleForTrustDomain(td)
	if err != nil || bundle == nil {
		return nil, fmt.Errorf("spiffe: trust domain %q is not trusted here: %v: %w", td, err, identity.ErrIssuer)
	}
	c := b.convert(td, bundle)
	if c.err != nil {
		return nil, c.err
	}
	return c.keys, nil
}

// convert returns the key set of bundle, reusing the last conversion while the
// source returns the same, unchanged bundle; so a token cached by the verifier
// stays cached until the bundle really changes.
func (b *Bundles) convert(td spiffeid.TrustDomain, bundle *jwtbundle.Bundle) converted {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c, ok := b.by[td]; ok && c.bundle == bundle && bundle.Equal(c.snapshot) {
		return c
	}
	c := converted{bundle: bundle, snapshot: bundle.Clone()}
	c.keys, c.err = KeySet(c.snapshot)
	b.by[td] = c
	return c
}

// KeySet converts the JWT authorities of bundle into an [identity.KeySet],
// applying its hygiene rules; a bundle that breaks them, or holds no JWT
// authority, is an error wrapping [identity.ErrKeySet].
func KeySet(bundle *jwtbundle.Bundle) (*identity.KeySet, error) {
	auth := bundle.JWTAuthorities()
	keys := make([]jose.JSONWebKey, 0, len(auth))
	for kid, pub := range auth {
		keys = append(keys, jose.JSONWebKey{Key: pub, KeyID: kid, Use: "sig"})
	}
	set, err := identity.NewKeySet(keys...)
	if err != nil {
		return nil, fmt.Errorf("spiffe: bundle of %q: %w", bundle.TrustDomain(), err)
	}
	return set, nil
}
