package identity_test

import (
	"context"
	"encoding/base64"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/identity/identitytest"
)

func TestMemoryStoreConformance(t *testing.T) {
	t.Parallel()
	identitytest.TestStore(t, func(_ *testing.T, now func() time.Time) identitytest.Store {
		return identity.NewMemoryStore(identity.MemoryStoreOptions{Now: now})
	})
}

// storeKit returns a kit and a memory store on the kit's clock.
func storeKit(t *testing.T, opts identity.MemoryStoreOptions) (*identitytest.Kit, *identity.MemoryStore) {
	t.Helper()
	k := newKit(t)
	opts.Now = k.Now
	return k, identity.NewMemoryStore(opts)
}

func TestOneTime(t *testing.T) {
	t.Parallel()
	k, s := storeKit(t, identity.MemoryStoreOptions{})
	v := k.Verifier(t, identity.VerifierOptions{Store: s, OneTime: true})
	tok := k.Mint(t, identity.Claims{})
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	_, err := v.Verify(context.Background(), tok)
	wantOnly(t, err, identity.ErrReplay)
	if identity.CacheLen(v) != 0 {
		t.Error("a one-time verifier cached a token")
	}
}

// TestOneTimeKeyedOnDecodedJTI presents two different tokens whose jti
// decodes to the same string ("abc" and "\u0061bc"): the second is a replay.
func TestOneTimeKeyedOnDecodedJTI(t *testing.T) {
	t.Parallel()
	k, s := storeKit(t, identity.MemoryStoreOptions{})
	v := k.Verifier(t, identity.VerifierOptions{Store: s, OneTime: true})
	c := k.ClaimSet()
	plain := `{"iss":"` + k.Issuer() + `","sub":"s","aud":"` + k.Audience() + `","iat":` + itoa(c["iat"]) + `,"exp":` + itoa(c["exp"]) + `,"jti":"abc"}`
	escaped := strings.Replace(plain, `"jti":"abc"`, `"jti":"\u0061bc"`, 1)
	if _, err := v.Verify(context.Background(), k.Sign(t, k.Header(), rawJSON(plain))); err != nil {
		t.Fatal(err)
	}
	_, err := v.Verify(context.Background(), k.Sign(t, k.Header(), rawJSON(escaped)))
	wantOnly(t, err, identity.ErrReplay)
}

// TestOneTimeSurvivesSignatureMalleability re-signs nothing: it turns an
// ES256 signature (r, s) into (r, n − s), which also verifies, giving a second
// spelling of one token. The replay check, keyed on the claims, catches it.
func TestOneTimeSurvivesSignatureMalleability(t *testing.T) {
	t.Parallel()
	tok, v, _ := es256Token(t, identity.VerifierOptions{Store: identity.NewMemoryStore(identity.MemoryStoreOptions{Now: fixedNow}), OneTime: true})
	seg := segments(tok)
	sig, _ := base64.RawURLEncoding.DecodeString(seg[2])
	s := new(big.Int).SetBytes(sig[32:])
	s.Sub(p256N, s)
	s.FillBytes(sig[32:])
	twin := seg[0] + "." + seg[1] + "." + base64.RawURLEncoding.EncodeToString(sig)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	_, err := v.Verify(context.Background(), twin)
	wantOnly(t, err, identity.ErrReplay)
}

func TestOneTimeNeedsJTIAndStore(t *testing.T) {
	t.Parallel()
	k, s := storeKit(t, identity.MemoryStoreOptions{})
	_, err := identity.NewVerifier(k.Issuer(), k.Audience(), k.Keys(), identity.VerifierOptions{OneTime: true})
	wantOnly(t, err, identity.ErrConfig)
	_, err = identity.NewVerifier(k.Issuer(), k.Audience(), k.Keys(), identity.VerifierOptions{Store: s, RevocationInterval: -1})
	wantOnly(t, err, identity.ErrConfig)
}

func TestMemoryStoreFullDenies(t *testing.T) {
	t.Parallel()
	k, s := storeKit(t, identity.MemoryStoreOptions{MaxEntries: 2})
	v := k.Verifier(t, identity.VerifierOptions{Store: s, OneTime: true})
	for range 2 {
		if _, err := v.Verify(context.Background(), k.Mint(t, identity.Claims{})); err != nil {
			t.Fatal(err)
		}
	}
	_, err := v.Verify(context.Background(), k.Mint(t, identity.Claims{}))
	wantOnly(t, err, identity.ErrStore)
	k.Advance(identity.DefaultTTL + identity.DefaultLeeway) // the first two expire
	if _, err := v.Verify(context.Background(), k.Mint(t, identity.Claims{})); err != nil {
		t.Fatalf("after expiry: %v", err)
	}
	if s.Len() != 1 {
		t.Errorf("store holds %d ids, want 1", s.Len())
	}
}

func TestRevocation(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	tok := k.Mint(t, identity.Claims{ID: "j-1", Subject: "model:a", Agent: "bot", Act: []identity.Actor{{Subject: "user:alice"}}})
	tests := []struct {
		name string
		r    identity.Revocation
		want error
	}{
		{"jti", identity.Revocation{Kind: identity.RevokeToken, Value: "j-1"}, identity.ErrRevoked},
		{"subject", identity.Revocation{Kind: identity.RevokeSubject, Value: "model:a"}, identity.ErrRevoked},
		{"actor subject", identity.Revocation{Kind: identity.RevokeSubject, Value: "user:alice"}, identity.ErrRevoked},
		{"agent", identity.Revocation{Kind: identity.RevokeAgent, Value: "bot", Reason: "leaked"}, identity.ErrRevoked},
		{"key", identity.Revocation{Kind: identity.RevokeKey, Value: k.KeyID()}, identity.ErrRevoked},
		{"other jti", identity.Revocation{Kind: identity.RevokeToken, Value: "j-2"}, nil},
		{"other issuer", identity.Revocation{Kind: identity.RevokeSubject, Issuer: "https://other", Value: "model:a"}, nil},
		{"expired", identity.Revocation{Kind: identity.RevokeAgent, Value: "bot", Expires: t0}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := identity.NewMemoryStore(identity.MemoryStoreOptions{Now: k.Now})
			v := k.Verifier(t, identity.VerifierOptions{Store: s})
			if tt.r.Issuer == "" {
				tt.r.Issuer = k.Issuer()
			}
			if err := s.Revoke(context.Background(), tt.r); err != nil {
				t.Fatal(err)
			}
			_, err := v.Verify(context.Background(), tok)
			if tt.want == nil && err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if tt.want != nil {
				wantOnly(t, err, tt.want)
			}
		})
	}
}

// TestRevocationBeatsCache verifies (and caches) a token, revokes it, and
// checks that it is refused once the verifier's list is RevocationInterval
// old, though the cache still holds it.
func TestRevocationBeatsCache(t *testing.T) {
	t.Parallel()
	k, s := storeKit(t, identity.MemoryStoreOptions{})
	v := k.Verifier(t, identity.VerifierOptions{Store: s, RevocationInterval: 10 * time.Second})
	tok := k.Mint(t, identity.Claims{ID: "j"})
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(context.Background(), identity.Revocation{Kind: identity.RevokeToken, Issuer: k.Issuer(), Value: "j"}); err != nil {
		t.Fatal(err)
	}
	k.Advance(10 * time.Second)
	if identity.CacheLen(v) != 1 {
		t.Fatal("token not cached")
	}
	_, err := v.Verify(context.Background(), tok)
	wantOnly(t, err, identity.ErrRevoked)
}

// downStore fails every call.
type downStore struct{}

var errDown = errors.New("connection refused")

func (downStore) Use(context.Context, string, string, time.Time) error       { return errDown }
func (downStore) Revocations(context.Context) ([]identity.Revocation, error) { return nil, errDown }

func TestStoreDownDenies(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	for _, oneTime := range []bool{false, true} {
		v := k.Verifier(t, identity.VerifierOptions{Store: downStore{}, OneTime: oneTime})
		_, err := v.Verify(context.Background(), k.Mint(t, identity.Claims{}))
		wantOnly(t, err, identity.ErrStore)
		if !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("error does not say why: %v", err)
		}
	}
}
