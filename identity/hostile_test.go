package identity_test

// The hostile-input list of the identity issue, and where each case is tested:
//
//	alg none, HS256 confusion      identitytest.Broken (alg-none, hs256-confusion), TestHMACConfusion
//	kid path chars / huge          TestHostileKid, TestRemoteKeysKidNeverInURL
//	jku x5u jwk x5c crit cty       identitytest.Broken (header-*), TestHostileShapes
//	nested JWT, JWE, JSON serial.  TestVerifyShape, TestHostileShapes
//	missing/non-numeric exp        identitytest.Broken (missing-exp), TestVerifyRejects
//	exp/nbf/iat at leeway edges    TestTimeBoundaries
//	lifetime over max, wrong iss/aud/typ   identitytest.Broken, TestTimeBoundaries
//	duplicate claim keys           TestDuplicateClaimRejectedByGoJOSE, TestHostileShapes
//	megabyte tokens, million dots  TestHostileSizes
//	non-canonical base64           TestNonCanonical
//	ECDSA r or s = 0 or ≥ n        TestECDSAEdges
//	public vectors                 TestRFC8037, TestRFC7515

import (
	"context"
	"crypto/ecdsa"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/identity"
)

// p256N is the order of the P-256 group.
var p256N, _ = new(big.Int).SetString("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551", 16)

func fixedNow() time.Time { return t0 }

func itoa(v any) string { return fmt.Sprint(v) }

func rawJSON(s string) json.RawMessage { return json.RawMessage(s) }

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// es256Token mints a token with a fresh P-256 key and returns it with a
// verifier for it and the public key.
func es256Token(t *testing.T, opts identity.VerifierOptions) (string, *identity.Verifier, jose.JSONWebKey) {
	t.Helper()
	key, err := identity.GenerateKey(jose.ES256, "es")
	check(err)
	iss, err := identity.NewIssuer("https://i", key, identity.IssuerOptions{Now: fixedNow})
	check(err)
	tok, err := iss.Mint(identity.Claims{Subject: "s", Audience: []string{"a"}})
	check(err)
	keys, err := identity.NewKeySet(iss.PublicKey())
	check(err)
	opts.Now = fixedNow
	v, err := identity.NewVerifier("https://i", "a", keys, opts)
	check(err)
	return tok, v, iss.PublicKey()
}

// vector is a testdata file of RFC examples.
type vector struct {
	Key   json.RawMessage `json:"key"`
	Token string          `json:"token"`
}

func loadVector(t *testing.T, name string) (jose.JSONWebKey, string) {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	check(err)
	var v vector
	check(json.Unmarshal(b, &v))
	var k jose.JSONWebKey
	check(k.UnmarshalJSON(v.Key))
	return k, v.Token
}

// TestRFC8037 checks the RFC 8037 A.4 example against go-jose (so the vector
// is right), then against Verify, which refuses it for having no typ (it is
// not a modelguard token), and finally signs a modelguard token with the RFC
// key, which Verify accepts.
func TestRFC8037(t *testing.T) {
	t.Parallel()
	key, tok := loadVector(t, "rfc8037-a4.json")
	rfcVector(t, key, tok, jose.EdDSA, identity.ErrType)
}

// TestRFC7515 does the same with the RFC 7515 A.3 ES256 example, whose
// private key the testdata leaves out.
func TestRFC7515(t *testing.T) {
	t.Parallel()
	key, tok := loadVector(t, "rfc7515-a3.json")
	rfcVector(t, key, tok, jose.ES256, identity.ErrType)
}

func rfcVector(t *testing.T, key jose.JSONWebKey, tok string, alg jose.SignatureAlgorithm, want error) {
	t.Helper()
	js, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{alg})
	check(err)
	if _, err := js.Verify(key.Public().Key); err != nil {
		t.Fatalf("go-jose does not verify the RFC vector: %v", err)
	}
	pub := key.Public()
	pub.KeyID = "rfc"
	set, err := identity.NewKeySet(pub)
	check(err)
	v, err := identity.NewVerifier("https://i", "a", set, identity.VerifierOptions{Now: fixedNow})
	check(err)
	_, err = v.Verify(context.Background(), tok)
	wantOnly(t, err, want)
	if key.IsPublic() {
		return
	}
	key.KeyID = "rfc"
	iss, err := identity.NewIssuer("https://i", key, identity.IssuerOptions{Now: fixedNow})
	check(err)
	mg, err := iss.Mint(identity.Claims{Subject: "s", Audience: []string{"a"}})
	check(err)
	if _, err := v.Verify(context.Background(), mg); err != nil {
		t.Fatalf("token signed with the RFC key: %v", err)
	}
	if _, err := identity.NewKeySet(key); err == nil {
		t.Error("a key set took the RFC's private key")
	}
}

// TestECDSAEdges replaces the r or s half of a valid ES256 signature with
// the values Wycheproof's ECDSA vectors probe for.
func TestECDSAEdges(t *testing.T) {
	t.Parallel()
	tok, v, _ := es256Token(t, identity.VerifierOptions{CacheSize: -1})
	seg := segments(tok)
	sig, _ := base64.RawURLEncoding.DecodeString(seg[2])
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	max256 := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	der, _ := asn1.Marshal(struct{ R, S *big.Int }{r, s})
	tests := []struct {
		name string
		sig  []byte
		want error // nil: accepted
	}{
		{"original", sig, nil},
		{"s = n - s (malleable, valid)", rs(r, new(big.Int).Sub(p256N, s)), nil},
		{"r = 0", rs(big.NewInt(0), s), identity.ErrSignature},
		{"s = 0", rs(r, big.NewInt(0)), identity.ErrSignature},
		{"r = s = 0", rs(big.NewInt(0), big.NewInt(0)), identity.ErrSignature},
		{"r = n", rs(p256N, s), identity.ErrSignature},
		{"s = n", rs(r, p256N), identity.ErrSignature},
		{"r = n + r", rs(new(big.Int).Add(p256N, r), s), identity.ErrSignature},
		{"s = n + 1", rs(r, new(big.Int).Add(p256N, big.NewInt(1))), identity.ErrSignature},
		{"r = 2^256 - 1", rs(max256, s), identity.ErrSignature},
		{"r = 1, s = 1", rs(big.NewInt(1), big.NewInt(1)), identity.ErrSignature},
		{"DER instead of r||s", der, identity.ErrSignature},
		{"63 bytes", sig[:63], identity.ErrSignature},
		{"65 bytes", append(append([]byte{}, sig...), 0), identity.ErrSignature},
		{"empty", nil, identity.ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := v.Verify(context.Background(), seg[0]+"."+seg[1]+"."+b64(tt.sig))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			wantOnly(t, err, tt.want)
		})
	}
}

// rs encodes r and s as a JWS ES256 signature, truncating to 32 bytes each
// the way a hostile encoder might not: values above 2^256 do not fit and are
// cut to their low 32 bytes.
func rs(r, s *big.Int) []byte {
	out := make([]byte, 64)
	fill := func(dst []byte, x *big.Int) {
		b := x.Bytes()
		if len(b) > 32 {
			b = b[len(b)-32:]
		}
		copy(dst[32-len(b):], b)
	}
	fill(out[:32], r)
	fill(out[32:], s)
	return out
}

// TestHMACConfusion signs HS256 tokens with the verifier's public key in
// every form an attacker might guess it is used as an HMAC secret.
func TestHMACConfusion(t *testing.T) {
	t.Parallel()
	tok, v, pubJWK := es256Token(t, identity.VerifierOptions{})
	seg := segments(tok)
	hdr, _ := base64.RawURLEncoding.DecodeString(seg[0])
	var h map[string]any
	check(json.Unmarshal(hdr, &h))
	der, err := x509.MarshalPKIXPublicKey(pubJWK.Key)
	check(err)
	jwkJSON, err := pubJWK.MarshalJSON()
	check(err)
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	for name, secret := range map[string][]byte{"PEM": pemKey, "DER": der, "JWK": jwkJSON, "point": mustPoint(pubJWK.Key.(*ecdsa.PublicKey))} {
		for _, alg := range []string{"HS256", "HS384", "HS512", "hs256"} {
			t.Run(name+"/"+alg, func(t *testing.T) {
				t.Parallel()
				h2 := map[string]any{"alg": alg, "kid": h["kid"], "typ": h["typ"]}
				hb, _ := json.Marshal(h2)
				input := b64(hb) + "." + seg[1]
				mac := hmac.New(sha256.New, secret)
				mac.Write([]byte(input))
				_, err := v.Verify(context.Background(), input+"."+b64(mac.Sum(nil)))
				wantOnly(t, err, identity.ErrAlgorithm)
			})
		}
	}
}

// TestHostileKid tries kids that would hurt a key source that builds paths or
// URLs from them, or that logs them whole.
func TestHostileKid(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	huge := strings.Repeat("k", 6000)
	for name, kid := range map[string]any{
		"path traversal": "../../../../etc/passwd", "absolute path": "/dev/zero", "url": "https://attacker.example/k",
		"NUL": "kid\x00", "newline": "kid\nInjected: yes", "huge": huge, "unicode": "k\u202eid", "object": map[string]any{"a": 1},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tok := k.Sign(t, header(k, func(h map[string]any) { h["kid"] = kid }), k.ClaimSet())
			_, err := verify(t, k, identity.VerifierOptions{MaxTokenSize: 16 << 10}, tok)
			if _, isObj := kid.(map[string]any); isObj {
				wantOnly(t, err, identity.ErrHeader)
				return
			}
			wantOnly(t, err, identity.ErrUnknownKey)
			if len(err.Error()) > 300 {
				t.Errorf("error of %d bytes echoes the kid", len(err.Error()))
			}
		})
	}
}

// TestHostileShapes covers JWE, nested JWTs, JSON serializations and
// duplicate keys beyond those of TestVerifyShape.
func TestHostileShapes(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	valid := k.Mint(t, identity.Claims{})
	s := segments(valid)
	jweHeader := b64([]byte(`{"alg":"RSA-OAEP","enc":"A256GCM","kid":"` + k.KeyID() + `"}`))
	general := `{"payload":"` + s[1] + `","signatures":[{"protected":"` + s[0] + `","signature":"` + s[2] + `"}]}`
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"JWE compact", jweHeader + ".AAAA.AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA", identity.ErrMalformed},
		{"JWE header on a JWS", k.Sign(t, rawJSON(`{"alg":"EdDSA","enc":"A256GCM","kid":"`+k.KeyID()+`","typ":"mg+jwt"}`), k.ClaimSet()), identity.ErrHeader},
		{"JWE alg on a JWS", k.Sign(t, header(k, func(h map[string]any) { h["alg"] = "dir" }), k.ClaimSet()), identity.ErrAlgorithm},
		{"JWS general JSON serialization", general, identity.ErrMalformed},
		{"nested JWT without cty", k.Sign(t, k.Header(), valid), identity.ErrMalformed},
		{"nested JWT with cty", k.Sign(t, header(k, func(h map[string]any) { h["cty"] = "JWT" }), valid), identity.ErrHeader},
		{"duplicate key inside act", k.Sign(t, k.Header(), rawJSON(strings.Replace(string(mustJSON(k.ClaimSet())), "{", `{"act":{"sub":"a","sub":"b"},`, 1))), identity.ErrMalformed},
		{"exp object", k.Sign(t, k.Header(), with(k, func(c map[string]any) { c["exp"] = map[string]any{"$date": 1} })), identity.ErrMalformed},
		{"exp numeric string", k.Sign(t, k.Header(), with(k, func(c map[string]any) { c["exp"] = "1e10" })), identity.ErrMalformed},
		{"header with BOM", "77u_" + s[0] + "." + s[1] + "." + s[2], identity.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := verify(t, k, identity.VerifierOptions{}, tt.token)
			wantOnly(t, err, tt.want)
		})
	}
}

func mustPoint(k *ecdsa.PublicKey) []byte {
	b, err := k.Bytes()
	check(err)
	return b
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	check(err)
	return b
}
