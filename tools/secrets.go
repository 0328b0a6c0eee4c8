package tools

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
)

// ErrSecret: a secret the tool declared could not be fetched; the call is denied.
var ErrSecret = errors.New("modelguard: secret unavailable")

// CodeSecretUnavailable is the reason code of a call denied for a missing secret.
const CodeSecretUnavailable = "secret_unavailable"

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
func (f SecretFunc) Secret(ctx context.Context, name string) (string, error) { return f(ctx, name) }

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

// secrets are the values injected into one call, by name.
type secrets map[string]string

// SecretFromContext returns the secret a guarded tool declared, inside the tool's
// call. Nothing else can see it.
func SecretFromContext(ctx context.Context, name string) (string, bool) {
	s, _ := ctx.Value(secretsKey{}).(secrets)
	v, ok := s[name]
	return v, ok
}

// fetchSecrets gets every secret the tool declared.
func fetchSecrets(ctx context.Context, src SecretSource, names []string) (secrets, error) {
	if len(names) == 0 {
		return nil, nil
	}
	if src == nil {
		return nil, fmt.Errorf("%w: the tool needs secrets and the enforcer has no SecretSource", ErrSecret)
	}
	out := make(secrets, len(names))
	for _, n := range names {
		v, err := src.Secret(ctx, n)
		if err != nil {
			return nil, fmt.Errorf("secret %q: %w", n, errors.Join(ErrSecret, err))
		}
		out[n] = v
	}
	return out, nil
}

// scrub replaces every occurrence of a secret value in s.
func (sec secrets) scrub(s string) (string, bool) {
	changed := false
	for name, v := range sec {
		if v != "" && strings.Contains(s, v) {
			s, changed = strings.ReplaceAll(s, v, "[secret:"+name+"]"), true
		}
	}
	return s, changed
}

// scrubbedError stands in for a tool error that contained a secret. It does not
// unwrap to the original, which would hand the secret back to anyone with
// errors.As.
type scrubbedError struct{ msg string }

func (e *scrubbedError) Error() string { return e.msg }

func (sec secrets) scrubError(err error) error {
	if err == nil || len(sec) == 0 {
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
