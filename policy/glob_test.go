package policy_test

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/modelguard/modelguard/policy"
)

func TestMatchTool(t *testing.T) {
	t.Parallel()
	cases := []struct {
		pat, name string
		want      bool
	}{
		{"*", "fs/delete", true}, {"*", "a.b/c", true}, {"*", "", true}, {"*", "mcp:x/y.z", true},
		{"tickets.*", "tickets.get", true}, {"tickets.*", "tickets.a/b", true}, {"tickets.*", "ticketsXget", false},
		{"fs/*", "fs/delete", true}, {"fs/*", "fs", false}, {"*delete", "fs/rm/delete", true},
		{"?", "é", true}, {"?", "ab", false}, {`\*`, "*", true}, {`\*`, "x", false}, {"[ab]", "[ab]", true}, {"[ab]", "a", false},
		{"a*b*c", "a/x/b/y/c", true}, {"a*b*c", "a/x/b/y/", false}, {"tickets.get", "tickets.get", true}, {"tickets.get", "tickets.gets", false},
	}
	for _, c := range cases {
		if got := policy.MatchTool(c.pat, c.name); got != c.want {
			t.Errorf("MatchTool(%q, %q) = %v, want %v", c.pat, c.name, got, c.want)
		}
	}
	for _, bad := range []string{"", `a\`, "\xff*"} {
		if policy.ValidPattern(bad) == nil {
			t.Errorf("ValidPattern(%q) = nil, want an error", bad)
		}
	}
}

// reference translates a pattern into an anchored regular expression.
func reference(pat string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`^(?s:`)
	for i := 0; i < len(pat); i++ {
		switch c := pat[i]; c {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		case '\\':
			i++
			b.WriteString(regexp.QuoteMeta(pat[i : i+1]))
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(`)$`)
	return regexp.MustCompile(b.String())
}

// FuzzMatchTool checks the matcher against a regular-expression reference on
// every valid pattern and name, and that "*" covers every name.
func FuzzMatchTool(f *testing.F) {
	for _, s := range [][2]string{{"*", "fs/delete"}, {"tickets.*", "tickets.a/b"}, {"a*b?c", "a/b/xc"}, {`\*x`, "*x"}, {"??*", "é/"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pat, name string) {
		if !utf8.ValidString(name) {
			return
		}
		if !policy.MatchTool("*", name) {
			t.Fatalf("* does not cover %q", name)
		}
		if policy.ValidPattern(pat) != nil {
			if policy.MatchTool(pat, name) {
				t.Fatalf("invalid pattern %q matched %q", pat, name)
			}
			return
		}
		if got, want := policy.MatchTool(pat, name), reference(pat).MatchString(name); got != want {
			t.Fatalf("MatchTool(%q, %q) = %v, reference %v", pat, name, got, want)
		}
	})
}

// An empty when (a template that rendered nothing) is a load error, in every
// spelling YAML has for it; only an absent when means true.
func TestEmptyWhenIsAnError(t *testing.T) {
	t.Parallel()
	for _, when := range []string{`when:`, `when: ""`, `when: ''`, `when: "  "`, `when: ~`, `when: null`, "when: |\n      \n"} {
		src := "rules:\n  - id: r\n    effect: permit\n    tools: [\"t\"]\n    " + when + "\n"
		if _, err := policy.Parse("p.yaml", []byte(src)); err == nil || !strings.Contains(err.Error(), "when is present but empty") {
			t.Errorf("%q: err = %v, want an empty-when error", when, err)
		}
	}
	if _, err := policy.Parse("p.yaml", []byte("rules:\n  - id: r\n    effect: permit\n    tools: [\"t\"]\n")); err != nil {
		t.Errorf("absent when: %v", err)
	}
}

// A forbid on "*" covers every tool name, whatever it holds.
func TestStarCoversEveryTool(t *testing.T) {
	t.Parallel()
	r := policy.Rule{ID: "kill", Effect: policy.Forbid, Tools: []string{"*"}}
	for _, name := range []string{"fs/delete", "a.b/c", "mcp:server/tool", "x", "é/../..", "a b"} {
		if !r.Covers(name, nil) {
			t.Errorf("* does not cover %q", name)
		}
	}
}
