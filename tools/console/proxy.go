package console

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/modelguard/modelguard/identity"
)

// ProxyAuth opts in to identity headers set by an authenticating proxy in
// front of the console (an OAuth2 proxy, an identity-aware load balancer).
// Only requests from the proxy's own addresses are trusted for the headers;
// the proxy must strip them from its clients' requests. A user signed in this
// way is a person (no model or agent claims) whose roles are those the proxy
// names.
type ProxyAuth struct {
	// SubjectHeader carries the authenticated user's subject, such as
	// "X-Forwarded-User". Required.
	SubjectHeader string
	// RolesHeader carries the user's roles, separated by spaces or commas,
	// such as "X-Forwarded-Groups". Without it no proxy user has a role.
	RolesHeader string
	// From are the proxy's addresses. Required: a header from anywhere else is
	// refused, never ignored.
	From []netip.Prefix
	// Issuer names the proxy in the audit records of console actions
	// (default "proxy").
	Issuer string
}

func (p *ProxyAuth) check() error {
	if p.SubjectHeader == "" || len(p.From) == 0 {
		return errors.New("console: ProxyAuth needs SubjectHeader and the proxy's addresses (From)")
	}
	if p.Issuer == "" {
		p.Issuer = "proxy"
	}
	return nil
}

// maxHeader bounds a subject or roles header.
const maxHeader = 1024

// fromProxy authenticates a request that carries the subject header. ok is
// false when the request carries none.
func (p *ProxyAuth) user(r *http.Request) (u *user, ok bool, err error) {
	sub := r.Header.Get(p.SubjectHeader)
	if _, present := r.Header[http.CanonicalHeaderKey(p.SubjectHeader)]; !present {
		return nil, false, nil
	}
	if !p.trusted(r.RemoteAddr) {
		return nil, true, errors.New("identity header from an address that is not the trusted proxy")
	}
	if !cleanHeader(sub) || strings.TrimSpace(sub) == "" {
		return nil, true, errors.New("malformed identity header")
	}
	roles := r.Header.Get(p.RolesHeader)
	if p.RolesHeader == "" || !cleanHeader(roles) {
		roles = ""
	}
	c := &identity.Claims{Issuer: p.Issuer, Subject: strings.TrimSpace(sub)}
	// The CSRF token of a proxy user is keyed by the proxy and the subject.
	return &user{claims: c, token: "proxy\x00" + c.Subject, roles: strings.FieldsFunc(roles, func(r rune) bool {
		return r == ',' || unicode.IsSpace(r)
	})}, true, nil
}

func cleanHeader(s string) bool {
	return len(s) <= maxHeader && utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

func (p *ProxyAuth) trusted(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, pf := range p.From {
		if pf.Contains(a) {
			return true
		}
	}
	return false
}
