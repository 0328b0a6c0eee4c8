package identity_test

import (
	"context"
	"errors"
	"testing"

	"github.com/modelguard/modelguard/identity"
)

// TestVerifierTypes: the typ header is accepted exactly when it is in the
// configured set, and its absence only with AllowMissingType. Every pair of
// (configured set, presented typ) is tried.
func TestVerifierTypes(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	const absent = "<absent>"
	presented := []string{absent, "mg+jwt", "JWT", "jwt", "at+jwt", "JOSE", "application/jwt", ""}
	configs := []struct {
		name   string
		opts   identity.VerifierOptions
		accept map[string]bool
	}{
		{"default", identity.VerifierOptions{}, map[string]bool{"mg+jwt": true}},
		{"Type JWT", identity.VerifierOptions{Type: "JWT"}, map[string]bool{"JWT": true}},
		{"Types JWT at+jwt", identity.VerifierOptions{Types: []string{"JWT", "at+jwt"}}, map[string]bool{"JWT": true, "at+jwt": true}},
		{"Type JWT or absent", identity.VerifierOptions{Type: "JWT", AllowMissingType: true}, map[string]bool{"JWT": true, absent: true}},
		{"default or absent", identity.VerifierOptions{AllowMissingType: true}, map[string]bool{"mg+jwt": true, absent: true}},
	}
	for _, c := range configs {
		v := k.Verifier(t, c.opts)
		for _, typ := range presented {
			h := header(k, func(h map[string]any) {
				if typ == absent {
					delete(h, "typ")
				} else {
					h["typ"] = typ
				}
			})
			_, err := v.Verify(context.Background(), k.Sign(t, h, k.ClaimSet()))
			switch {
			case c.accept[typ] && err != nil:
				t.Errorf("%s: typ %q refused: %v", c.name, typ, err)
			case !c.accept[typ] && !errors.Is(err, identity.ErrType):
				t.Errorf("%s: typ %q: err = %v, want ErrType", c.name, typ, err)
			}
		}
	}
}

func TestVerifierTypesConfigErrors(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	for name, opts := range map[string]identity.VerifierOptions{
		"both":  {Type: "JWT", Types: []string{"at+jwt"}},
		"empty": {Types: []string{"JWT", ""}},
	} {
		if _, err := identity.NewVerifier(k.Issuer(), k.Audience(), k.Keys(), opts); err == nil {
			t.Errorf("%s: NewVerifier accepted %+v", name, opts)
		}
	}
}
