package httpguard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/tools"
)

// ErrWrongResource: the token is valid but was not issued for this resource:
// its audience does not hold the canonical resource identifier (RFC 8707 §2).
var ErrWrongResource = errors.New("httpguard: token audience is not this resource")

// ProtectOptions configure [Protect]. The zero value is valid.
type ProtectOptions struct {
	// Options configure the bearer check. Its ResourceMetadata is set by
	// Protect to the metadata URL of the resource.
	Options
	// SessionHeader, if set, names the header by which clients name a session
	// the handler opened (for MCP streamable HTTP, [SessionHeader]); each such
	// session is bound to the identity that opened it (see [Sessions]).
	SessionHeader string
	// OnSessionMismatch, if set, is told of every request refused because its
	// session belongs to another identity (see [Sessions]).
	OnSessionMismatch func(r *http.Request, sessionID, owner string)
	// StepUp holds back the answer to each MCP tools/call request (a POST of
	// one JSON-RPC request) until it is complete, so that a call a guard
	// denies for want of scopes is answered 403 insufficient_scope (see
	// [StepUp]). An answer that streams before it completes (progress, a
	// request to the client) is let through as it streams, and then a step-up
	// is only told in the tool result.
	StepUp bool
}

// Protect returns next as an OAuth 2.0 protected resource that follows the MCP
// authorization specification (2025-06-18 and 2025-11-25, "Authorization
// Server Discovery", "Access Token Usage", "Token Audience Binding"):
//
//   - the metadata m (RFC 9728) is served without credentials at its
//     well-known URL ([MetadataURL]) and at the host's root well-known URL;
//   - every other request needs a bearer token that v verifies and whose
//     audience holds the canonical form of m.Resource ([CanonicalResource],
//     RFC 8707), or it gets 401 with a challenge naming the metadata (RFC 6750
//     §3, RFC 9728 §5.1) and, for a presented token, error="invalid_token";
//   - with opts.SessionHeader set, a session belongs to the identity that
//     opened it ([Sessions]).
//
// The token reaches next in the request's context and its Authorization
// header; it is never sent anywhere else (no token passthrough). It fails with
// ErrBadResource if m.Resource is not a usable identifier, and panics if v or
// next is nil.
func Protect(next http.Handler, v tools.Verifier, m Metadata, opts ProtectOptions) (http.Handler, error) {
	if next == nil {
		panic("httpguard: Protect: nil handler")
	}
	canon, err := CanonicalResource(m.Resource)
	if err != nil {
		return nil, err
	}
	m.Resource = canon
	meta, err := MetadataHandler(m)
	if err != nil {
		return nil, err
	}
	metaURL, _ := MetadataURL(canon)
	opts.ResourceMetadata = metaURL
	if opts.Scope == "" {
		opts.Scope = strings.Join(m.ScopesSupported, " ")
	}
	inner := next
	if opts.StepUp {
		inner = stepUp(inner, &opts.Options)
	}
	o := &opts.Options
	withOpts := inner
	inner = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		withOpts.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), optionsKey{}, o)))
	})
	if opts.SessionHeader != "" {
		inner = NewSessions(opts.SessionHeader, opts.OnSessionMismatch).Middleware(inner)
	}
	guarded := Middleware(audience{v, canon}, opts.Options)(inner)
	u, _ := url.Parse(metaURL)
	paths := []string{u.EscapedPath(), WellKnownPath}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slices.Contains(paths, r.URL.EscapedPath()) {
			meta.ServeHTTP(w, r)
			return
		}
		guarded.ServeHTTP(w, r)
	}), nil
}

// audience is a verifier that also requires the token's audience to hold the
// resource (RFC 8707 §2; MCP authorization "Token Audience Binding and
// Validation"), whatever audience the wrapped verifier requires.
type audience struct {
	v        tools.Verifier
	resource string
}

func (a audience) Verify(ctx context.Context, token string) (*identity.Claims, error) {
	c, err := a.v.Verify(ctx, token)
	if err != nil {
		return nil, err
	}
	if c == nil || !slices.Contains(c.Audience, a.resource) {
		return nil, fmt.Errorf("%w: want %q", ErrWrongResource, a.resource)
	}
	return c, nil
}
