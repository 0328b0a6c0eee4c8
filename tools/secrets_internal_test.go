package tools

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
)

// FuzzSecretNeverReachesModel: whatever a tool wraps a secret in (a prefix and
// suffix) and whichever encoding it emits, the scrubbed output's JSON holds no
// form from which the secret decodes back.
func FuzzSecretNeverReachesModel(f *testing.F) {
	f.Add("hunter2-secret", "u:", "", uint8(0))
	f.Add("s3cr3t-token-value", "Basic ", "x", uint8(1))
	f.Add("9876543210", "", "", uint8(7))
	f.Add("pässwörd-ü", "ab", "cd", uint8(5))
	f.Fuzz(func(t *testing.T, secret, pre, suf string, enc uint8) {
		if len(secret) < 6 || strings.ContainsAny(secret, "\x00") {
			return
		}
		whole := pre + secret + suf
		encs := []struct {
			enc func(string) string
			dec func(string) (string, bool)
		}{
			{func(s string) string { return s }, func(s string) (string, bool) { return s, true }},
			{func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }, b64(base64.StdEncoding)},
			{func(s string) string { return base64.RawStdEncoding.EncodeToString([]byte(s)) }, b64(base64.RawStdEncoding)},
			{func(s string) string { return base64.URLEncoding.EncodeToString([]byte(s)) }, b64(base64.URLEncoding)},
			{func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }, b64(base64.RawURLEncoding)},
			{func(s string) string { return hex.EncodeToString([]byte(s)) }, hexDec},
			{func(s string) string { return strings.ToUpper(hex.EncodeToString([]byte(s))) }, hexDec},
			{url.QueryEscape, func(s string) (string, bool) { d, err := url.QueryUnescape(s); return d, err == nil }},
		}
		e := encs[int(enc)%len(encs)]
		sec := &secrets{vals: map[string]string{"k": secret}}
		sec.r = scrubber(sec.vals)
		out, _, err := rewriteOutput(map[string]any{"v": e.enc(whole), "b": []byte(whole)}, nil, sec)
		if err != nil {
			return // withheld
		}
		b, _ := json.Marshal(out)
		if strings.Contains(string(b), secret) {
			t.Fatalf("raw secret in %s", b)
		}
		for _, field := range []string{out["v"].(string), out["b"].(string)} {
			for _, d := range encs {
				if s, ok := d.dec(field); ok && strings.Contains(s, secret) {
					t.Fatalf("secret %q recoverable from %q", secret, field)
				}
			}
		}
	})
}

func b64(enc *base64.Encoding) func(string) (string, bool) {
	return func(s string) (string, bool) { d, err := enc.DecodeString(s); return string(d), err == nil }
}

func hexDec(s string) (string, bool) { d, err := hex.DecodeString(s); return string(d), err == nil }

// A numeric secret returned as a JSON number is scrubbed (the typed output then
// refuses the placeholder, so it is withheld).
func TestNumericSecretWithheld(t *testing.T) {
	sec := &secrets{vals: map[string]string{"pin": "84512973"}}
	sec.r = scrubber(sec.vals)
	type out struct {
		N int64 `json:"n"`
	}
	if _, _, err := rewriteOutput(out{N: 84512973}, nil, sec); err == nil {
		t.Fatal("a numeric secret returned as a JSON number was passed through")
	}
}
