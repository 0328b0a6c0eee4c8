package identity

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/json"
)

// This file holds the checks that run on the raw token before go-jose sees it:
// the structural scan and the protected-header allow-list. Rejecting jwk, x5c,
// jku and friends here keeps attacker-supplied keys, certificate chains and URLs
// away from every parser.

// b64 maps a base64url byte to its 6-bit value, and every other byte to -1.
var b64 = func() (t [256]int8) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range t {
		t[i] = -1
	}
	for i := range len(alphabet) {
		t[alphabet[i]] = int8(i)
	}
	return t
}()

// split checks that token is a JWS compact serialization whose three segments
// are canonical unpadded base64url, and returns the segments. It stops at the
// first bad byte or surplus dot, so hostile input costs at most one pass.
func split(token string) (header, payload, sig string, err error) {
	var dots [2]int
	n := 0
	for i := 0; i < len(token); i++ {
		c := token[i]
		if c == '.' {
			if n == len(dots) {
				return "", "", "", fmt.Errorf("identity: token has more than 3 segments (JWE and nested tokens are not accepted): %w", ErrMalformed)
			}
			dots[n] = i
			n++
			continue
		}
		if b64[c] < 0 {
			return "", "", "", badByte(token, i)
		}
	}
	if n != len(dots) {
		return "", "", "", fmt.Errorf("identity: token has %d segments, want 3: %w", n+1, ErrMalformed)
	}
	header, payload, sig = token[:dots[0]], token[dots[0]+1:dots[1]], token[dots[1]+1:]
	for i, s := range [...]string{header, payload, sig} {
		if !canonical(s) {
			return "", "", "", fmt.Errorf("identity: segment %d is not canonical base64url: %w", i+1, ErrMalformed)
		}
	}
	return header, payload, sig, nil
}

func badByte(token string, i int) error {
	if i == 0 && token[0] == '{' {
		return fmt.Errorf("identity: JWS JSON serialization is not accepted, only compact: %w", ErrMalformed)
	}
	return fmt.Errorf("identity: byte %d of the token is %q, not base64url or '.': %w", i, token[i], ErrMalformed)
}

// canonical reports whether s, already known to hold only base64url bytes, is
// the one unpadded encoding of its bytes: the unused low bits of the last byte
// must be zero. Without this check several strings decode to the same token,
// which would defeat the cache and any replay detection keyed on the string.
func canonical(s string) bool {
	if len(s) == 0 {
		return true
	}
	last := b64[s[len(s)-1]]
	switch len(s) % 4 {
	case 1:
		return false
	case 2:
		return last&0x0f == 0
	case 3:
		return last&0x03 == 0
	}
	return true
}

// header is what the protected header may carry.
type header struct {
	alg jose.SignatureAlgorithm
	kid string
}

// allowedHeaders is the protected-header allow-list.
func allowedHeader(name string) bool { return name == "alg" || name == "kid" || name == "typ" }

// header decodes the protected header segment and applies the allow-list, the
// algorithm allow-list and the typ check.
func (v *Verifier) header(seg string) (header, error) {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return header{}, fmt.Errorf("identity: protected header: %v: %w", err, ErrMalformed)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil || h == nil {
		return header{}, fmt.Errorf("identity: protected header is not a JSON object: %w", ErrMalformed)
	}
	if err := forbidden(h); err != nil {
		return header{}, err
	}
	alg, err := v.headerAlg(h["alg"])
	if err != nil {
		return header{}, err
	}
	if err := v.headerType(h["typ"]); err != nil {
		return header{}, err
	}
	kid, ok := h["kid"].(string)
	if !ok || kid == "" {
		return header{}, fmt.Errorf("identity: protected header has no kid (a string naming the signing key): %w", ErrHeader)
	}
	return header{alg: alg, kid: kid}, nil
}

// forbidden rejects any header parameter outside the allow-list, naming them all.
func forbidden(h map[string]any) error {
	var bad []string
	for k := range h {
		if !allowedHeader(k) {
			bad = append(bad, fmt.Sprintf("%.32q", k))
		}
	}
	if bad == nil {
		return nil
	}
	slices.Sort(bad)
	return fmt.Errorf("identity: forbidden header parameter %s (only alg, kid and typ are allowed): %w", strings.Join(bad, ", "), ErrHeader)
}

func (v *Verifier) headerAlg(val any) (jose.SignatureAlgorithm, error) {
	s, ok := val.(string)
	if !ok {
		return "", fmt.Errorf("identity: protected header has no alg string: %w", ErrAlgorithm)
	}
	alg := jose.SignatureAlgorithm(s)
	if !slices.Contains(v.algs, alg) {
		return "", fmt.Errorf("identity: alg %.32q %s (allowed: %s): %w", s, algProblem(alg), algList(v.algs), ErrAlgorithm)
	}
	return alg, nil
}

func (v *Verifier) headerType(val any) error {
	if val == nil {
		if slices.Contains(v.types, "") {
			return nil
		}
		return fmt.Errorf("identity: protected header has no typ, want %s: %w", typList(v.types), ErrType)
	}
	s, ok := val.(string)
	if !ok {
		return fmt.Errorf("identity: typ header is not a string, want %s: %w", typList(v.types), ErrType)
	}
	if s == "" || !slices.Contains(v.types, s) {
		return fmt.Errorf("identity: typ %.32q, want %s: %w", s, typList(v.types), ErrType)
	}
	return nil
}

// typList names the accepted typ values for error messages.
func typList(types []string) string {
	q := make([]string, 0, len(types))
	for _, t := range types {
		if t == "" {
			q = append(q, "none")
			continue
		}
		q = append(q, fmt.Sprintf("%q", t))
	}
	return strings.Join(q, " or ")
}

// supportedAlgs are the only algorithms a [Verifier] can be configured with.
var supportedAlgs = []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256, jose.RS256, jose.PS256}

// algProblem says why alg is refused.
func algProblem(alg jose.SignatureAlgorithm) string {
	switch {
	case strings.EqualFold(string(alg), "none"):
		return "is never allowed (unsigned token)"
	case strings.HasPrefix(strings.ToUpper(string(alg)), "HS"):
		return "is never allowed (a shared HMAC secret cannot prove an identity)"
	case slices.Contains(supportedAlgs, alg):
		return "is not enabled"
	}
	return "is not supported"
}

func algList(algs []jose.SignatureAlgorithm) string {
	s := make([]string, len(algs))
	for i, a := range algs {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}
