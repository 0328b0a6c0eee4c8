package httpguard

import (
	"errors"
	"net/http"
	"strings"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/tools"
)

// ErrMultipleAuthorization: the request carries more than one Authorization
// header, so which token speaks for it is ambiguous.
var ErrMultipleAuthorization = errors.New("httpguard: more than one Authorization header")

// ErrNotBearer: the Authorization header uses a scheme other than Bearer.
var ErrNotBearer = errors.New("httpguard: Authorization scheme is not Bearer")

// ErrMalformed: the Authorization header names the Bearer scheme but does not
// hold exactly one space and a non-empty token without white space.
var ErrMalformed = errors.New("httpguard: malformed bearer credential")

// Options configure [Middleware]. The zero value is valid.
type Options struct {
	// Realm, if set, is sent as the realm of the WWW-Authenticate challenge.
	Realm string
	// ResourceMetadata, if set, is the URL of the OAuth protected resource
	// metadata (RFC 9728), sent as resource_metadata in the challenge.
	ResourceMetadata string
	// Scope, if set, is sent as the scope of the challenge (RFC 6750 §3): the
	// scopes a token needs for this resource, space-separated.
	Scope string
	// OnError, if set, is told why a request was refused: identity.ErrNoToken,
	// ErrNotBearer, ErrMalformed, ErrMultipleAuthorization or the verifier's
	// error. The client is never told. It must be safe for concurrent use.
	OnError func(r *http.Request, err error)
}

// Middleware returns middleware that admits a request only with a bearer token
// that v verifies, and puts the raw token and the verified claims into the
// request's context. Any other request gets 401 and a WWW-Authenticate
// challenge, and the next handler does not run. It panics if v is nil.
func Middleware(v tools.Verifier, opts Options) func(http.Handler) http.Handler {
	if v == nil {
		panic("httpguard: nil verifier")
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			token, err := BearerToken(r)
			if err == nil {
				claims, verr := v.Verify(r.Context(), token)
				if verr == nil {
					ctx := identity.NewContext(identity.WithToken(r.Context(), token), claims)
					next.ServeHTTP(w, r.WithContext(ctx))
					return
				}
				err = verr
			}
			if opts.OnError != nil {
				opts.OnError(r, err)
			}
			// RFC 6750 §3.1: no error code for a request without bearer credentials.
			opts.refuse(w, !errors.Is(err, identity.ErrNoToken) && !errors.Is(err, ErrNotBearer))
		})
	}
}

// BearerToken returns the token of the request's Authorization header. It
// fails with identity.ErrNoToken when there is none, ErrMultipleAuthorization
// when there are several, ErrNotBearer when the scheme is not "Bearer" (in any
// case), and ErrMalformed when the scheme is not followed by exactly one space
// and a non-empty token without white space.
func BearerToken(r *http.Request) (string, error) {
	switch h := r.Header.Values("Authorization"); len(h) {
	case 0:
		return "", identity.ErrNoToken
	case 1:
		return parseBearer(h[0])
	default:
		return "", ErrMultipleAuthorization
	}
}

func parseBearer(h string) (string, error) {
	scheme, token, _ := strings.Cut(h, " ")
	switch {
	case !strings.EqualFold(strings.TrimSpace(scheme), "Bearer"):
		return "", ErrNotBearer
	case scheme != strings.TrimSpace(scheme) || token == "" || strings.ContainsAny(token, " \t\r\n"):
		return "", ErrMalformed
	}
	return token, nil
}

// refuse writes the 401 response; invalid says a bearer token was presented.
func (o *Options) refuse(w http.ResponseWriter, invalid bool) {
	errCode := ""
	if invalid {
		errCode = "invalid_token"
	}
	w.Header().Set("WWW-Authenticate", Challenge(o.Realm, errCode, o.Scope, o.ResourceMetadata))
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, http.StatusText(http.StatusUnauthorized), http.StatusUnauthorized)
}

// InsufficientScope writes 403 Forbidden with a challenge naming every scope
// the request needs (RFC 6750 §3.1 insufficient_scope; MCP authorization,
// step-up). The body says nothing more.
func (o *Options) InsufficientScope(w http.ResponseWriter, scopes []string) {
	w.Header().Set("WWW-Authenticate", Challenge(o.Realm, "insufficient_scope", strings.Join(scopes, " "), o.ResourceMetadata))
	w.Header().Set("Cache-Control", "no-store")
	http.Error(w, http.StatusText(http.StatusForbidden), http.StatusForbidden)
}

// Challenge returns a Bearer challenge (RFC 6750 §3) with the parameters that
// are set, in the order realm, error, scope, resource_metadata (RFC 9728 §5.1).
// Values are quoted-strings (RFC 9110 §5.6.4); control characters, which a
// quoted-string cannot hold, are dropped.
func Challenge(realm, errCode, scope, resourceMetadata string) string {
	var params []string
	for _, p := range [][2]string{{"realm", realm}, {"error", errCode}, {"scope", scope}, {"resource_metadata", resourceMetadata}} {
		if p[1] != "" {
			params = append(params, p[0]+"="+quote(p[1]))
		}
	}
	if len(params) == 0 {
		return "Bearer"
	}
	return "Bearer " + strings.Join(params, ", ")
}

// quote returns s as an RFC 9110 §5.6.4 quoted-string.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			// not allowed in a quoted-string, not even escaped (except HTAB)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
