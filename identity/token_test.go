package identity_test

import (
	"context"
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/identity/identitytest"
)

const b64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// bumpLast replaces the last byte of seg with the next base64url character,
// which changes only the unused low bits when the segment length is 2 or 3
// mod 4: a non-canonical encoding of the same bytes.
func bumpLast(seg string) string {
	i := strings.IndexByte(b64Alphabet, seg[len(seg)-1])
	return seg[:len(seg)-1] + string(b64Alphabet[i+1])
}

// TestVerifyShape covers the checks made on the raw string before any parsing.
func TestVerifyShape(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	valid := k.Mint(t, identity.Claims{})
	s := segments(valid)
	tests := []struct {
		name  string
		token string
		want  error
	}{
		{"empty", "", identity.ErrMalformed},
		{"one segment", s[0], identity.ErrMalformed},
		{"two segments", s[0] + "." + s[1], identity.ErrMalformed},
		{"four segments", valid + ".", identity.ErrMalformed},
		{"JWE five segments", s[0] + ".AAAA." + s[1] + ".AAAA." + s[2], identity.ErrMalformed},
		{"JSON serialization", `{"payload":"` + s[1] + `","protected":"` + s[0] + `","signature":"` + s[2] + `"}`, identity.ErrMalformed},
		{"padding", valid + "==", identity.ErrMalformed},
		{"newline inside", s[0] + ".\n" + s[1] + "." + s[2], identity.ErrMalformed},
		{"four line breaks inside payload", s[0] + "." + s[1][:8] + "\r\n\r\n" + s[1][8:] + "." + s[2], identity.ErrMalformed},
		{"four line breaks inside header", s[0][:8] + "\n\n\n\n" + s[0][8:] + "." + s[1] + "." + s[2], identity.ErrMalformed},
		{"trailing newline", valid + "\n", identity.ErrMalformed},
		{"leading space", " " + valid, identity.ErrMalformed},
		{"standard base64 alphabet", s[0] + "." + strings.ReplaceAll(s[1], "_", "/") + "+." + s[2], identity.ErrMalformed},
		{"segment length 1 mod 4", s[0] + "." + s[1] + "." + s[2] + "AAA", identity.ErrMalformed},
		{"empty header", "." + s[1] + "." + s[2], identity.ErrMalformed},
		{"header not JSON", "bm90LWpzb24." + s[1] + "." + s[2], identity.ErrMalformed},
		{"header JSON array", "WyJhbGciXQ." + s[1] + "." + s[2], identity.ErrMalformed},
		{"header null", "bnVsbA." + s[1] + "." + s[2], identity.ErrMalformed},
		{"duplicate alg header", k.Sign(t, json.RawMessage(`{"alg":"EdDSA","kid":"`+k.KeyID()+`","typ":"mg+jwt","alg":"EdDSA"}`), k.ClaimSet()), identity.ErrMalformed},
		{"empty payload", s[0] + ".." + s[2], identity.ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := verify(t, k, identity.VerifierOptions{}, tt.token)
			wantOnly(t, err, tt.want)
		})
	}
}

// TestNonCanonical alters the unused low bits of the last character of each
// segment in turn. go-jose alone verifies every such token, since it decodes to
// the same bytes and go-jose re-encodes before checking the signature; Verify
// must refuse them, or one token would have many spellings.
func TestNonCanonical(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	for seg := range 3 {
		t.Run([]string{"header", "payload", "signature"}[seg], func(t *testing.T) {
			t.Parallel()
			tok, typ := spellable(t, k, seg)
			s := segments(tok)
			s[seg] = bumpLast(s[seg])
			alt := strings.Join(s, ".")
			js, err := jose.ParseSignedCompact(alt, []jose.SignatureAlgorithm{jose.EdDSA})
			if err != nil {
				t.Fatalf("go-jose refused the altered token (%v); the test premise is gone", err)
			}
			if _, err := js.Verify(k.Keys().Keys()[0].Key); err != nil {
				t.Fatalf("go-jose did not verify the altered token (%v); the test premise is gone", err)
			}
			_, err = verify(t, k, identity.VerifierOptions{Type: typ}, alt)
			wantOnly(t, err, identity.ErrMalformed)
		})
	}
}

// spellable returns a valid token (and its typ) whose segment seg has a length
// of 2 or 3 mod 4, so its last character has unused bits.
func spellable(t *testing.T, k *identitytest.Kit, seg int) (string, string) {
	t.Helper()
	for i := range 4 {
		typ := "mg+jwt" + strings.Repeat("x", i)
		h := header(k, func(h map[string]any) { h["typ"] = typ })
		c := with(k, func(c map[string]any) { c["jti"] = strings.Repeat("j", i+1) })
		tok := k.Sign(t, h, c)
		if len(segments(tok)[seg])%4 >= 2 {
			return tok, typ
		}
	}
	t.Fatal("no token with a spellable segment")
	return "", ""
}

// TestHostileSizes checks that oversized and dot-stuffed tokens are turned away
// before parsing: with the sentinel, and allocating no more than the error
// itself (a decode of a megabyte token would allocate at least that much). It
// is not parallel, so that no other test allocates while it measures.
func TestHostileSizes(t *testing.T) {
	k := newKit(t)
	big := identity.VerifierOptions{MaxTokenSize: 4 << 20, CacheSize: -1}
	tests := []struct {
		name  string
		opts  identity.VerifierOptions
		token string
		want  error
	}{
		{"megabyte", identity.VerifierOptions{}, strings.Repeat("a", 1<<20), identity.ErrTooLarge},
		{"one byte over", identity.VerifierOptions{MaxTokenSize: 100}, strings.Repeat("a", 101), identity.ErrTooLarge},
		{"million dots", big, strings.Repeat(".", 1<<20), identity.ErrMalformed},
		{"megabyte of one segment", big, strings.Repeat("a", 1<<20), identity.ErrMalformed},
		{"megabyte then dots", big, strings.Repeat("a", 1<<20) + "...", identity.ErrMalformed},
		{"megabyte of junk", big, strings.Repeat("a.b", 1<<18), identity.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := k.Verifier(t, tt.opts)
			var err error
			n := bytesPerRun(10, func() { _, err = v.Verify(context.Background(), tt.token) })
			wantOnly(t, err, tt.want)
			if n > 1024 {
				t.Errorf("%d bytes allocated per call, want at most 1 KiB (the error)", n)
			}
		})
	}
}

// bytesPerRun returns the bytes f allocates per call, averaged over runs.
func bytesPerRun(runs int, f func()) uint64 {
	f() // warm up
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(runs)
}

func TestTokenAtMaxSizeIsParsed(t *testing.T) {
	t.Parallel()
	k := newKit(t)
	tok := k.Mint(t, identity.Claims{})
	if _, err := verify(t, k, identity.VerifierOptions{MaxTokenSize: len(tok)}, tok); err != nil {
		t.Fatalf("token of exactly MaxTokenSize bytes: %v", err)
	}
}
