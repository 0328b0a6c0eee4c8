package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

const inspectAbout = `Inspect decodes a token (from the argument, or standard input with - or no
argument) and prints its header and claims, marked unverified. With -keys (a
JWK Set file) or -jwks (a JWK Set URL) it then verifies the token exactly as a
guard would and prints either "verified" or the reason it fails, with the
name of the identity error a program would branch on; the exit status is 1
when it fails.

-iss and -aud default to the token's own iss and first aud, so that the
other checks can run; give them to check those too.`

type inspectFlags struct {
	keys, jwks, iss, aud, typ, now string
	algs                           listFlag
	leeway, maxLifetime            time.Duration
}

func runTokenInspect(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("modelguard token inspect", "[-keys keys.jwks | -jwks URL] [-iss ISSUER] [-aud AUD] [flags] [TOKEN | -]", inspectAbout)
	var f inspectFlags
	f.register(fset)
	pos, code, ok := parseFlags(fset, args, stdout, stderr)
	if !ok {
		return code
	}
	token, err := f.token(pos)
	if err != nil {
		return usageError(fset, stderr, "%v", err)
	}
	claims, err := decodeToken(stdout, token)
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	if f.keys == "" && f.jwks == "" {
		fmt.Fprintln(stdout, "\nnot verified: give -keys or -jwks to verify")
		return exitOK
	}
	return f.verify(stdout, stderr, fset.Name(), token, claims)
}

func (f *inspectFlags) register(fset *flag.FlagSet) {
	fset.StringVar(&f.keys, "keys", "", "JWK Set `file` to verify against")
	fset.StringVar(&f.jwks, "jwks", "", "JWK Set `URL` to verify against (https, or http on a loopback address)")
	fset.StringVar(&f.iss, "iss", "", "required `issuer` (default: the token's iss)")
	fset.StringVar(&f.aud, "aud", "", "required `audience` (default: the token's first aud)")
	fset.StringVar(&f.typ, "type", "", "required typ `header` (default mg+jwt)")
	fset.Var(&f.algs, "alg", "allowed `algorithm` (repeatable; default EdDSA and ES256)")
	fset.StringVar(&f.now, "now", "", "verify as of this RFC 3339 `time` (default: now)")
	fset.DurationVar(&f.leeway, "leeway", 0, "clock skew `allowance` (default 30s)")
	fset.DurationVar(&f.maxLifetime, "max-lifetime", 0, "longest exp − iat `allowed` (default 1h)")
}

// token returns the token from the argument or standard input.
func (f *inspectFlags) token(pos []string) (string, error) {
	switch {
	case f.keys != "" && f.jwks != "":
		return "", errors.New("give -keys or -jwks, not both")
	case len(pos) > 1:
		return "", fmt.Errorf("unexpected argument %q (give one token)", pos[1])
	case len(pos) == 1 && pos[0] != "-":
		return strings.TrimSpace(pos[0]), nil
	}
	b, err := io.ReadAll(io.LimitReader(os.Stdin, 1<<20))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// decodeToken prints the header and claims of token without verifying it, and
// returns the claims.
func decodeToken(w io.Writer, token string) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("token has %d dot-separated parts, want 3 (a JWS in compact form)", len(parts))
	}
	var claims map[string]any
	for i, name := range []string{"header", "claims"} {
		b, err := base64.RawURLEncoding.DecodeString(parts[i])
		if err != nil {
			return nil, fmt.Errorf("%s is not base64url: %v", name, err)
		}
		var out bytes.Buffer
		if err := json.Indent(&out, b, "", "  "); err != nil {
			return nil, fmt.Errorf("%s is not JSON: %v", name, err)
		}
		fmt.Fprintf(w, "%s (unverified):\n%s\n", name, out.String())
		if i == 1 {
			json.Unmarshal(b, &claims)
		}
	}
	printTimes(w, claims)
	return claims, nil
}

// printTimes shows the NumericDate claims as times.
func printTimes(w io.Writer, claims map[string]any) {
	for _, name := range []string{"iat", "nbf", "exp"} {
		if v, ok := claims[name].(float64); ok {
			fmt.Fprintf(w, "%s: %s\n", name, time.Unix(int64(v), 0).UTC().Format(time.RFC3339))
		}
	}
}

// verify checks token and reports the outcome.
func (f *inspectFlags) verify(stdout, stderr io.Writer, name, token string, claims map[string]any) int {
	v, notes, err := f.verifier(claims)
	if err != nil {
		return fail(stderr, name, err)
	}
	for _, n := range notes {
		fmt.Fprintln(stdout, "note:", n)
	}
	if _, err := v.Verify(context.Background(), token); err != nil {
		fmt.Fprintf(stdout, "\nverification FAILED (%s): %v\n", sentinelName(err), err)
		return exitFail
	}
	fmt.Fprintf(stdout, "\nverified: issuer %s, audience %s\n", v.Issuer(), v.Audience())
	return exitOK
}
