package spiffe

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/spiffe/go-spiffe/v2/bundle/jwtbundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/workloadapi"

	"github.com/modelguard/modelguard/identity"
)

// ErrID: the JWT-SVID verified, but its SPIFFE ID is not one the verifier's
// matcher accepts.
var ErrID = errors.New("spiffe: SPIFFE ID not accepted")

// Verifier checks JWT-SVIDs for one audience against trust bundles, and their
// SPIFFE IDs against a matcher. It implements the tools.Verifier interface,
// so it drops into tools.NewEnforcer. It is safe for concurrent use.
type Verifier struct {
	inner  *identity.Verifier
	match  spiffeid.Matcher
	closed atomic.Bool
	source *workloadapi.JWTSource // set by NewWorkloadVerifier
}

// NewVerifier returns a verifier of JWT-SVIDs for audience, whose keys come
// from bundles (see [NewBundles]) and whose SPIFFE IDs must satisfy match:
// spiffeid.MatchID for one workload, spiffeid.MatchOneOf for several,
// spiffeid.MatchMemberOf for a whole trust domain, spiffeid.MatchIDPrefix for a
// path prefix. match is required: accepting any workload of every trusted
// domain must be asked for with spiffeid.MatchAny.
//
// opts are those of [identity.NewSVIDVerifier], which does the token checks.
func NewVerifier(bundles jwtbundle.Source, audience string, match spiffeid.Matcher, opts identity.VerifierOptions) (*Verifier, error) {
	var errs []error
	if bundles == nil {
		errs = append(errs, fmt.Errorf("spiffe: verifier needs a bundle source: %w", identity.ErrConfig))
	}
	if match == nil {
		errs = append(errs, fmt.Errorf("spiffe: verifier needs a SPIFFE ID matcher (spiffeid.MatchAny to accept all): %w", identity.ErrConfig))
	}
	var b identity.Bundles
	if bundles != nil {
		b = NewBundles(bundles)
	}
	inner, err := identity.NewSVIDVerifier(audience, b, opts)
	if err := errors.Join(append(errs, err)...); err != nil {
		return nil, err
	}
	return &Verifier{inner: inner, match: match}, nil
}

// Audience returns the audience the verifier requires.
func (v *Verifier) Audience() string { return v.inner.Audience() }

// Verify checks the JWT-SVID token and returns its claims, with SPIFFEID and
// TrustDomain set. Errors wrap the sentinels of [identity.Verifier.Verify], or
// [ErrID] for a SPIFFE ID the matcher refuses.
func (v *Verifier) Verify(ctx context.Context, token string) (*identity.Claims, error) {
	if v.closed.Load() {
		return nil, fmt.Errorf("spiffe: verifier is closed: %w", identity.ErrKeysUnavailable)
	}
	c, err := v.inner.Verify(ctx, token)
	if err != nil {
		return nil, err
	}
	id, err := spiffeid.FromString(c.SPIFFEID)
	if err != nil { // identity.TrustDomain accepted it; go-spiffe is the reference
		return nil, fmt.Errorf("spiffe: %v: %w", err, identity.ErrMalformed)
	}
	if err := v.match(id); err != nil {
		return nil, fmt.Errorf("spiffe: %v: %w", err, ErrID)
	}
	return c, nil
}

// NewWorkloadVerifier returns a verifier whose bundles stream from the
// SPIFFE Workload API (the SPIRE agent's socket, from the SPIFFE_ENDPOINT_SOCKET
// variable or workloadapi.WithAddr in clientOpts). It blocks until the first
// bundles arrive or ctx is done. Close it to stop the stream.
func NewWorkloadVerifier(ctx context.Context, audience string, match spiffeid.Matcher, opts identity.VerifierOptions, clientOpts ...workloadapi.ClientOption) (*Verifier, error) {
	src, err := workloadapi.NewJWTSource(ctx, workloadapi.WithClientOptions(clientOpts...))
	if err != nil {
		return nil, fmt.Errorf("spiffe: workload API: %v: %w", err, identity.ErrKeysUnavailable)
	}
	v, err := NewVerifier(src, audience, match, opts)
	if err != nil {
		src.Close()
		return nil, err
	}
	v.source = src
	return v, nil
}

// Close stops the Workload API stream of a verifier from
// [NewWorkloadVerifier]; later calls to Verify fail with
// [identity.ErrKeysUnavailable]. For other verifiers it only does the latter.
func (v *Verifier) Close() error {
	v.closed.Store(true)
	if v.source != nil {
		return v.source.Close()
	}
	return nil
}
