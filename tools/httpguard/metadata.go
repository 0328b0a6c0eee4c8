package httpguard

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// WellKnownPath is the well-known URI suffix of OAuth 2.0 protected resource
// metadata (RFC 9728 §3).
const WellKnownPath = "/.well-known/oauth-protected-resource"

// ErrBadResource: a protected resource identifier is not an absolute https URL
// (http only on a loopback host) without a fragment (RFC 9728 §1.2, RFC 8707 §2).
var ErrBadResource = errors.New("httpguard: resource must be an absolute https URL without a fragment")

// Metadata is OAuth 2.0 protected resource metadata (RFC 9728 §2). Resource is
// required; the other members are sent only when set.
type Metadata struct {
	// Resource is the protected resource's identifier (RFC 9728 §2 "resource"),
	// the value clients send as the RFC 8707 resource parameter and tokens carry
	// as their audience.
	Resource string `json:"resource"`
	// AuthorizationServers are the issuer identifiers of the authorization
	// servers that issue tokens for this resource (RFC 9728 §2).
	AuthorizationServers []string `json:"authorization_servers,omitempty"`
	// ScopesSupported are the scope values a client may request (RFC 9728 §2).
	ScopesSupported []string `json:"scopes_supported,omitempty"`
	// BearerMethodsSupported defaults to ["header"]: only the Authorization
	// header is read (RFC 6750 §2.1), never the body or the query.
	BearerMethodsSupported []string `json:"bearer_methods_supported,omitempty"`
	// ResourceName is a human-readable name (RFC 9728 §2).
	ResourceName string `json:"resource_name,omitempty"`
	// ResourceDocumentation is a URL of developer documentation (RFC 9728 §2).
	ResourceDocumentation string `json:"resource_documentation,omitempty"`
}

// CheckResource reports whether resource is usable as a protected resource
// identifier: an absolute https URL (http allowed only for a loopback host)
// with a host and no fragment (RFC 9728 §1.2; RFC 8707 §2).
func CheckResource(resource string) error {
	u, err := url.Parse(resource)
	if err != nil || u.Host == "" || u.Fragment != "" || strings.Contains(resource, "#") || u.User != nil {
		return fmt.Errorf("%w: %q", ErrBadResource, resource)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if h := u.Hostname(); h == "localhost" || h == "127.0.0.1" || h == "::1" {
			return nil
		}
	}
	return fmt.Errorf("%w: %q", ErrBadResource, resource)
}

// MetadataURL returns the URL at which the metadata of resource is served: the
// well-known suffix inserted between the host and the path (RFC 9728 §3.1), so
// https://host/mcp has https://host/.well-known/oauth-protected-resource/mcp.
func MetadataURL(resource string) (string, error) {
	if err := CheckResource(resource); err != nil {
		return "", err
	}
	u, _ := url.Parse(resource)
	path := strings.TrimSuffix(u.EscapedPath(), "/")
	return u.Scheme + "://" + u.Host + WellKnownPath + path, nil
}

// MetadataHandler serves m as JSON to GET and HEAD (RFC 9728 §3.2); it needs no
// credentials, since a client reads it to learn how to get them. It fails with
// ErrBadResource when m.Resource is not a usable identifier.
func MetadataHandler(m Metadata) (http.Handler, error) {
	if err := CheckResource(m.Resource); err != nil {
		return nil, err
	}
	if len(m.BearerMethodsSupported) == 0 {
		m.BearerMethodsSupported = []string{"header"}
	}
	body, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, http.StatusText(http.StatusMethodNotAllowed), http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			w.Write(body)
		}
	}), nil
}

// CanonicalResource returns the canonical form of a resource identifier, the
// value to use both as [Metadata.Resource] and as the audience the verifier
// requires, so that a token is bound to this resource (RFC 8707 §2; MCP
// authorization 2025-06-18 "Canonical Server URI"): scheme and host in lower
// case, default port dropped, no trailing slash, no fragment.
func CanonicalResource(resource string) (string, error) {
	if err := CheckResource(resource); err != nil {
		return "", err
	}
	u, _ := url.Parse(resource)
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if p := u.Port(); p != "" && !(scheme == "https" && p == "443") && !(scheme == "http" && p == "80") {
		host += ":" + p
	}
	out := scheme + "://" + host + strings.TrimSuffix(u.EscapedPath(), "/")
	if u.RawQuery != "" {
		out += "?" + u.RawQuery
	}
	return out, nil
}
