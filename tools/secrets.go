package tools

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"reflect"
	"sort"
	"strings"
)

// ErrSecret: a secret the tool declared could not be fetched; the call is denied.
var ErrSecret = errors.New("tools: secret unavailable")

// SecretSource fetches secret values by name. The guard asks for a tool's secrets
// only after the call is allowed, hands them to the tool through its ctx (see
// [SecretFromContext]), and scrubs every occurrence of them from the output and
// the error before either reaches the model or the audit log.
type SecretSource interface {
	Secret(ctx context.Context, name string) (string, error)
}

// SecretFunc adapts a function to a [SecretSource].
type SecretFunc func(ctx context.Context, name string) (string, error)

// Secret calls f.
func (f SecretFunc) Secret(ctx context.Context, name string) (string, error) {
	if f == nil {
		return "", errors.New("tools: nil SecretFunc")
	}
	return f(ctx, name)
}

// EnvSecrets reads secrets from environment variables: the name, upper-cased,
// with every character that is not a letter or digit turned into '_', after
// prefix ("db/password" with prefix "APP_" is APP_DB_PASSWORD).
func EnvSecrets(prefix string) SecretSource {
	return SecretFunc(func(_ context.Context, name string) (string, error) {
		key := prefix + strings.Map(func(r rune) rune {
			switch {
			case 'a' <= r && r <= 'z':
				return r - 'a' + 'A'
			case 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
				return r
			}
			return '_'
		}, name)
		v, ok := os.LookupEnv(key)
		if !ok || v == "" {
			return "", fmt.Errorf("%w: environment variable %s is not set", ErrSecret, key)
		}
		return v, nil
	})
}

// FileSecrets reads each secret from the file of that name under dir (as mounted
// Kubernetes or Docker secrets are), without its trailing newline. Names cannot
// leave dir: the lookup goes through an os.Root.
func FileSecrets(dir string) SecretSource {
	return SecretFunc(func(_ context.Context, name string) (string, error) {
		root, err := os.OpenRoot(dir)
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrSecret, err)
		}
		defer root.Close()
		b, err := root.ReadFile(name)
		if err != nil {
			return "", fmt.Errorf("%w: %s: %v", ErrSecret, name, err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("%w: %s is empty", ErrSecret, name)
		}
		return v, nil
	})
}

type secretsKey struct{}

// secrets are the values injected into one call, by name, and a replacer that
// scrubs every form of them.
type secrets struct {
	vals map[string]string
	r    *strings.Replacer
}

// n is the number of secrets (0 for nil).
func (sec *secrets) n() int {
	if sec == nil {
		return 0
	}
	return len(sec.vals)
}

// SecretFromContext returns the secret a guarded tool declared, inside the tool's
// call. Nothing else can see it, not even a guarded tool the tool calls.
func SecretFromContext(ctx context.Context, name string) (string, bool) {
	if ctx == nil {
		return "", false
	}
	s, _ := ctx.Value(secretsKey{}).(*secrets)
	if s == nil {
		return "", false
	}
	v, ok := s.vals[name]
	return v, ok
}

// fetchSecrets gets every secret the tool declared.
func fetchSecrets(ctx context.Context, src SecretSource, names []string) (*secrets, error) {
	if len(names) == 0 {
		return nil, nil
	}
	if src == nil {
		return nil, fmt.Errorf("%w: the tool needs secrets and the enforcer has no SecretSource", ErrSecret)
	}
	vals := make(map[string]string, len(names))
	for _, n := range names {
		v, err := src.Secret(ctx, n)
		if err != nil {
			return nil, fmt.Errorf("secret %q: %w", n, errors.Join(ErrSecret, err))
		}
		vals[n] = v
	}
	return &secrets{vals: vals, r: scrubber(vals)}, nil
}

// scrubber replaces, in one pass and longest first (so that a secret that
// contains another is not left half-exposed), each secret value and the forms a
// tool is likely to emit it in: base64 (standard and URL, padded or not) and URL
// escaping.
func scrubber(vals map[string]string) *strings.Replacer {
	type form struct{ text, name string }
	var forms []form
	for name, v := range vals {
		if v == "" {
			continue
		}
		for _, f := range secretForms(v) {
			forms = append(forms, form{f, name})
		}
	}
	sort.SliceStable(forms, func(i, j int) bool { return len(forms[i].text) > len(forms[j].text) })
	var pairs []string
	seen := map[string]bool{}
	for _, f := range forms {
		if !seen[f.text] {
			seen[f.text] = true
			pairs = append(pairs, f.text, "[secret:"+f.name+"]")
		}
	}
	return strings.NewReplacer(pairs...)
}

// secretForms are the texts a secret can take in an output's JSON form: raw,
// \u-escaped, hex (either case), URL-escaped, and base64 (standard and URL
// alphabets, padded or not) of any value that contains it. For the last, a
// secret inside a longer value starts at one of three byte alignments; for each,
// the base64 characters that encode only the secret's own bytes do not depend on
// what surrounds it (RFC 4648 §4: 3 bytes to 4 characters), so that core is a
// form too ("Basic " + base64("u:" + secret) is caught).
func secretForms(v string) []string {
	b := []byte(v)
	var u strings.Builder
	for _, r := range v {
		fmt.Fprintf(&u, "\\u%04x", r)
	}
	forms := []string{v, u.String(), hex.EncodeToString(b), strings.ToUpper(hex.EncodeToString(b)),
		base64.StdEncoding.EncodeToString(b), base64.URLEncoding.EncodeToString(b),
		url.QueryEscape(v), url.PathEscape(v)}
	for k := range 3 {
		if k >= len(b) {
			break
		}
		core := b[k:]
		core = core[:len(core)/3*3]
		if len(core) == 0 {
			// a secret of under 3 bytes past k has no aligned core; the raw
			// unpadded forms still catch it at alignment 0
			continue
		}
		forms = append(forms, base64.RawStdEncoding.EncodeToString(core), base64.RawURLEncoding.EncodeToString(core))
	}
	forms = append(forms, base64.RawStdEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b))
	return forms
}

// scrub replaces every occurrence of a secret value in s.
func (sec *secrets) scrub(s string) (string, bool) {
	if sec.n() == 0 {
		return s, false
	}
	out := sec.r.Replace(s)
	return out, out != s
}

// scrubbedError stands in for a tool error that contained a secret. It does not
// unwrap to the original, which would hand the secret back to anyone with
// errors.As.
type scrubbedError struct{ msg string }

func (e *scrubbedError) Error() string { return e.msg }

func (sec *secrets) scrubError(err error) error {
	if err == nil || sec.n() == 0 {
		return err
	}
	if pe, ok := err.(*panicError); ok { // keep it a panic, without the secret
		v, _ := sec.scrub(fmt.Sprint(pe.value))
		return &panicError{tool: pe.tool, value: v}
	}
	if msg, changed := sec.scrub(err.Error()); changed {
		return &scrubbedError{msg: msg}
	}
	return err
}

// binaryIn reports whether t can hold binary data ([]byte, [N]byte) anywhere, whose
// JSON form (base64 of the whole value) a secret can hide in unscrubbed.
func binaryIn(t reflect.Type, seen map[reflect.Type]bool) bool {
	if seen[t] {
		return false
	}
	seen[t] = true
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return t.Elem().Kind() == reflect.Uint8 || binaryIn(t.Elem(), seen)
	case reflect.Pointer, reflect.Map:
		return binaryIn(t.Elem(), seen)
	case reflect.Struct:
		for i := range t.NumField() {
			if binaryIn(t.Field(i).Type, seen) {
				return true
			}
		}
	}
	return false
}
