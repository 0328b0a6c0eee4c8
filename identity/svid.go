package identity

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/go-jose/go-jose/v4/json"
)

// Bundles is a source of SPIFFE trust bundles, consumed by a verifier from
// [NewSVIDVerifier]: for each trust domain, the keys (JWT authorities) that
// sign its JWT-SVIDs. The identity/spiffe module adapts go-spiffe's
// jwtbundle.Source, including one that streams from the Workload API.
//
// Keys returns the key source of trustDomain ("example.org"). It returns an
// error wrapping [ErrIssuer] when the trust domain is not trusted, or
// [ErrKeysUnavailable] when its bundle cannot be had now, or [ErrKeySet]
// when the bundle breaks the key hygiene rules. Implementations must
// be safe for concurrent use.
type Bundles interface {
	Keys(ctx context.Context, trustDomain string) (Keys, error)
}

// BundlesFunc adapts a function to [Bundles].
type BundlesFunc func(ctx context.Context, trustDomain string) (Keys, error)

// Keys calls f.
func (f BundlesFunc) Keys(ctx context.Context, trustDomain string) (Keys, error) {
	if f == nil {
		return nil, fmt.Errorf("identity: nil BundlesFunc: %w", ErrConfig)
	}
	return f(ctx, trustDomain)
}

// svidTypes are the typ header values a JWT-SVID may carry (JWT-SVID §2.3);
// the header may also have no typ at all. Unexported: no importer may widen it.
var svidTypes = []string{"JWT", "JOSE"}

// NewSVIDVerifier returns a verifier of SPIFFE JWT-SVIDs for audience. The
// key set is picked by the trust domain of the token's sub (never merged
// across trust domains), from bundles.
//
// It applies every check of [NewVerifier] with the JWT-SVID profile instead of
// the modelguard one: sub must be a SPIFFE ID; aud and exp are required; iss
// is not checked (a trust domain is identified by its bundle, not a name),
// and the verifier's Issuer is empty; iat is optional (without it, exp − now
// is bounded by MaxLifetime); jti is optional unless OneTime is set; typ may be
// absent, "JWT" or "JOSE" unless opts.Type names one. Claims.SPIFFEID and
// Claims.TrustDomain are set. Replay and revocation state is kept under the
// issuer "spiffe://" + trust domain.
//
// Matching the SPIFFE ID against the workloads a service accepts is the
// caller's job (the identity/spiffe module does it); policy can also read
// identity.spiffe_id and identity.trust_domain.
func NewSVIDVerifier(audience string, bundles Bundles, opts VerifierOptions) (*Verifier, error) {
	var errs []error
	if bundles == nil {
		errs = append(errs, fmt.Errorf("identity: SVID verifier needs bundles: %w", ErrConfig))
	}
	defaultTypes := opts.Type == "" && len(opts.Types) == 0
	v, more := newVerifier("", audience, opts)
	if err := errors.Join(append(errs, more...)...); err != nil {
		return nil, err
	}
	v.bundles = bundles
	if defaultTypes {
		v.types = append([]string{""}, svidTypes...)
	}
	return v, nil
}

// route returns the key source for a token whose payload segment is seg, and
// the trust domain it was picked by ("" for an issuer verifier). For a JWT-SVID
// it reads sub from the payload before the signature is checked: only to pick
// the bundle, and check requires the verified sub to name the same domain.
func (v *Verifier) route(ctx context.Context, seg string) (string, Keys, error) {
	if v.bundles == nil {
		return "", v.keys, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return "", nil, fmt.Errorf("identity: payload: %v: %w", err, ErrMalformed)
	}
	var p struct {
		Sub *string `json:"sub"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return "", nil, fmt.Errorf("identity: claims: %v: %w", err, ErrMalformed)
	}
	if p.Sub == nil || *p.Sub == "" {
		return "", nil, fmt.Errorf("identity: claim \"sub\" is missing or empty: %w", ErrMissingClaim)
	}
	td, err := TrustDomain(*p.Sub)
	if err != nil {
		return "", nil, err
	}
	keys, err := v.keysFor(ctx, td)
	return td, keys, err
}

// keysFor returns the key source for route.
func (v *Verifier) keysFor(ctx context.Context, route string) (Keys, error) {
	if v.bundles == nil {
		return v.keys, nil
	}
	keys, err := v.bundles.Keys(ctx, route)
	switch {
	case err != nil && (errors.Is(err, ErrIssuer) || errors.Is(err, ErrKeysUnavailable) || errors.Is(err, ErrKeySet)):
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("identity: bundle of trust domain %.255q: %v: %w", route, err, ErrKeysUnavailable)
	case keys == nil:
		return nil, fmt.Errorf("identity: trust domain %.255q is not trusted: %w", route, ErrIssuer)
	}
	return keys, nil
}

// checkSVID applies the JWT-SVID subject rules and fills the SPIFFE fields.
func checkSVID(c *Claims, route string) error {
	td, err := TrustDomain(c.Subject)
	if err != nil {
		return err
	}
	if td != route { // unreachable: route was read from the same bytes
		return fmt.Errorf("identity: sub names trust domain %.255q, bundle of %.255q used: %w", td, route, ErrIssuer)
	}
	c.SPIFFEID, c.TrustDomain = c.Subject, td
	return nil
}

// SPIFFE ID limits (SPIFFE ID specification §2).
const (
	maxSPIFFEID    = 2048
	maxTrustDomain = 255
)

// TrustDomain returns the trust domain of the SPIFFE ID id
// ("spiffe://example.org/agent" → "example.org"), or an error wrapping
// [ErrMalformed] if id is not a valid SPIFFE ID: scheme "spiffe", a trust
// domain of lower-case letters, digits, '.', '-' and '_', and a path of
// non-empty segments of letters, digits, '.', '-' and '_' other than "." and
// "..", with no trailing slash, query, fragment, port or user info.
func TrustDomain(id string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("identity: %.128q is not a SPIFFE ID: %s: %w", id, why, ErrMalformed)
	}
	rest, ok := strings.CutPrefix(id, "spiffe://")
	switch {
	case !ok:
		return bad("scheme is not spiffe://")
	case len(id) > maxSPIFFEID:
		return bad(fmt.Sprintf("longer than %d bytes", maxSPIFFEID))
	}
	td, path, _ := strings.Cut(rest, "/")
	switch {
	case td == "":
		return bad("empty trust domain")
	case len(td) > maxTrustDomain:
		return bad(fmt.Sprintf("trust domain longer than %d bytes", maxTrustDomain))
	case strings.IndexFunc(td, func(r rune) bool { return !tdChar(r) }) >= 0:
		return bad("trust domain may hold only a-z, 0-9, '.', '-' and '_'")
	}
	if len(rest) > len(td) {
		if why := checkPath(path); why != "" {
			return bad(why)
		}
	}
	return td, nil
}

func tdChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_'
}

// checkPath returns what is wrong with the path of a SPIFFE ID (without its
// leading slash), or "".
func checkPath(path string) string {
	for seg := range strings.SplitSeq(path, "/") {
		switch {
		case seg == "":
			return "empty path segment or trailing slash"
		case seg == "." || seg == "..":
			return "dot segment in path"
		case strings.IndexFunc(seg, func(r rune) bool { return !tdChar(r) && !(r >= 'A' && r <= 'Z') }) >= 0:
			return "path may hold only letters, digits, '.', '-', '_' and '/'"
		}
	}
	return ""
}
