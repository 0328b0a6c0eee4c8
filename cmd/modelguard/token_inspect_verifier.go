package main

import (
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/identity"
)

// verifier builds the verifier the flags describe, taking iss and aud from
// the unverified claims when the flags leave them out, and says so in notes.
func (f *inspectFlags) verifier(claims map[string]any) (*identity.Verifier, []string, error) {
	var notes []string
	iss, aud := f.iss, f.aud
	if iss == "" {
		iss, _ = claims["iss"].(string)
		notes = append(notes, fmt.Sprintf("issuer %q taken from the token: give -iss to check it", iss))
	}
	if aud == "" {
		aud = firstAudience(claims["aud"])
		notes = append(notes, fmt.Sprintf("audience %q taken from the token: give -aud to check it", aud))
	}
	keys, err := f.keySource()
	if err != nil {
		return nil, nil, err
	}
	opts, err := f.options()
	if err != nil {
		return nil, nil, err
	}
	v, err := identity.NewVerifier(iss, aud, keys, opts)
	return v, notes, err
}

func firstAudience(v any) string {
	switch a := v.(type) {
	case string:
		return a
	case []any:
		if len(a) > 0 {
			s, _ := a[0].(string)
			return s
		}
	}
	return ""
}

func (f *inspectFlags) keySource() (identity.Keys, error) {
	if f.jwks != "" {
		return identity.NewRemoteKeys(f.jwks, identity.RemoteKeysOptions{})
	}
	return identity.LoadKeySet(f.keys)
}

func (f *inspectFlags) options() (identity.VerifierOptions, error) {
	opts := identity.VerifierOptions{Type: f.typ, Leeway: f.leeway, MaxLifetime: f.maxLifetime, CacheSize: -1}
	for _, a := range f.algs {
		opts.Algorithms = append(opts.Algorithms, jose.SignatureAlgorithm(a))
	}
	if f.now != "" {
		t, err := time.Parse(time.RFC3339, f.now)
		if err != nil {
			return opts, fmt.Errorf("-now %q: want an RFC 3339 time", f.now)
		}
		opts.Now = func() time.Time { return t }
	}
	return opts, nil
}

// sentinels name the identity errors a program branches on.
var sentinels = []struct {
	name string
	err  error
}{
	{"ErrTooLarge", identity.ErrTooLarge}, {"ErrMalformed", identity.ErrMalformed},
	{"ErrHeader", identity.ErrHeader}, {"ErrAlgorithm", identity.ErrAlgorithm},
	{"ErrType", identity.ErrType}, {"ErrUnknownKey", identity.ErrUnknownKey},
	{"ErrKeysUnavailable", identity.ErrKeysUnavailable}, {"ErrSignature", identity.ErrSignature},
	{"ErrMissingClaim", identity.ErrMissingClaim}, {"ErrIssuer", identity.ErrIssuer},
	{"ErrAudience", identity.ErrAudience}, {"ErrExpired", identity.ErrExpired},
	{"ErrNotYetValid", identity.ErrNotYetValid}, {"ErrIssuedInFuture", identity.ErrIssuedInFuture},
	{"ErrLifetime", identity.ErrLifetime}, {"ErrDelegation", identity.ErrDelegation},
	{"ErrRevoked", identity.ErrRevoked}, {"ErrReplay", identity.ErrReplay},
	{"ErrStore", identity.ErrStore}, {"ErrKeySet", identity.ErrKeySet},
}

// sentinelName names the identity sentinel err wraps.
func sentinelName(err error) string {
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			return "identity." + s.name
		}
	}
	return "error"
}
