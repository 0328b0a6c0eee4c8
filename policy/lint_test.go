package policy_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/policy"
)

func TestLint(t *testing.T) {
	t.Parallel()
	s := mustSet(t, `
variables:
  - {name: used, expression: 'identity.agent == "a"'}
  - {name: unused, expression: 'identity.agent == "b"'}
rules:
  - {id: ok, effect: permit, tools: [tickets.get], when: variables.used}
  - {id: typo, effect: permit, tools: [tickets.gte]}
  - {id: glob-none, effect: permit, tools: ["billing.*", tickets.get]}
  - {id: blocked, effect: permit, tools: [attachments.export]}
  - {id: block-all-exports, effect: forbid, tools: [attachments.export]}
  - {id: conditional-forbid, effect: forbid, tools: [tickets.get], when: 'identity.env == "prod"'}
`)
	ws := s.Lint([]policy.Tool{{Name: "tickets.get"}, {Name: "attachments.export"}})
	var got []string
	for _, w := range ws {
		got = append(got, w.String())
	}
	want := []string{
		"rule typo: covers no registered tool",
		`rule glob-none: tool glob "billing.*" matches no registered tool`,
		"rule blocked: permit can never apply: unconditional forbid block-all-exports",
		"variable unused is never used",
	}
	for _, w := range want {
		if !slices.ContainsFunc(got, func(g string) bool { return strings.Contains(g, w) }) {
			t.Errorf("lint lacks %q; got:\n%s", w, strings.Join(got, "\n"))
		}
	}
	if len(got) != len(want) {
		t.Errorf("lint found %d warnings, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	for _, g := range got {
		if !strings.HasPrefix(g, "test.yaml:") {
			t.Errorf("warning without position: %s", g)
		}
	}
}
