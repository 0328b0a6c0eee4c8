package policy_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
)

// decideMessage loads a one-rule forbid policy with the given message line and
// returns the model-facing messages of its decision.
func decideMessage(t *testing.T, message string) ([]string, error) {
	t.Helper()
	src := fmt.Sprintf("rules:\n  - id: r\n    effect: forbid\n    tools: [\"t\"]\n    message: %s\n", message)
	rules, err := policy.Parse("p.yaml", []byte(src))
	if err != nil {
		return nil, err
	}
	set, err := policy.NewSet(rules, policy.Options{})
	if err != nil {
		return nil, err
	}
	prog, err := set.Compile(policy.Tool{Name: "t"})
	if err != nil {
		return nil, err
	}
	d := prog.Decide(context.Background(), policy.Input{Identity: &identity.Claims{Subject: "model-1"}})
	return d.Messages, nil
}

func TestMessagePlainTextOrCEL(t *testing.T) {
	t.Parallel()
	cases := []struct{ yaml, want string }{
		{`path traversal is not allowed`, "path traversal is not allowed"},
		{`"path traversal is not allowed"`, "path traversal is not allowed"},
		{`denied`, "denied"},
		{`closed tickets are archived.`, "closed tickets are archived."},
		{`"'blocked for ' + identity.sub"`, "blocked for model-1"},
		{`"'quoted literal'"`, "quoted literal"},
		{`"say \"no\" & stop"`, `say "no" & stop`},
	}
	for _, c := range cases {
		got, err := decideMessage(t, c.yaml)
		if err != nil {
			t.Errorf("message %s: %v", c.yaml, err)
			continue
		}
		if len(got) != 1 || got[0] != c.want {
			t.Errorf("message %s: got %q, want %q", c.yaml, got, c.want)
		}
	}
}

// A message that is CEL but wrong stays a load error: plain text is only what
// could not be meant as an expression.
func TestMessageBadCELStaysAnError(t *testing.T) {
	t.Parallel()
	for _, m := range []string{`"identity.no_such_field"`, `"1 + 2"`, `"identity.sub + 1"`} {
		if _, err := decideMessage(t, m); err == nil {
			t.Errorf("message %s: loaded, want an error", m)
		}
	}
}

// Property: any sentence of plain words that does not form a CEL expression is
// shown exactly as written.
func TestMessagePlainTextProperty(t *testing.T) {
	t.Parallel()
	words := []string{"payment", "blocked", "over", "limit", "ask", "finance", "is", "not", "allowed", "été", "ünïcode", "50%", "(see", "policy)", "a/b", "don't", "x\\y"}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 300; i++ {
		n := 2 + r.IntN(6)
		var b strings.Builder
		for j := 0; j < n; j++ {
			if j > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(words[r.IntN(len(words))])
		}
		text := b.String()
		got, err := decideMessage(t, fmt.Sprintf("%q", text))
		if err != nil {
			t.Fatalf("message %q: %v", text, err)
		}
		if len(got) != 1 || got[0] != text {
			t.Fatalf("message %q: got %q", text, got)
		}
	}
}
