package policy_test

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/policy"
)

func TestCasesDetectWrongExpectations(t *testing.T) {
	t.Parallel()
	set, err := policy.Load(policy.Options{}, "testdata/support/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cases, err := policy.ParseCases("wrong.yaml", []byte(`
cases:
  - name: wrong allow
    tool: tickets.get
    identity: {sub: a, agent: support-bot, scope: "tickets:read"}
    expect: {allow: false, rules: [nope], redact: []}
  - name: right
    tool: attachments.export
    identity: {sub: a}
    expect: {allow: false}
`))
	if err != nil {
		t.Fatal(err)
	}
	rep := set.Test(context.Background(), cases, nil)
	failed := rep.Failed()
	if len(failed) != 1 || failed[0].Case.Name != "wrong allow" || len(failed[0].Failures) != 3 {
		t.Fatalf("failures = %+v", failed)
	}
	if !slices.Equal(rep.Uncovered(), []string{"payments", "try-no-night-payments"}) {
		t.Fatalf("uncovered = %v", rep.Uncovered())
	}
	if rep.Coverage["support-tickets-read"] != 1 || rep.Coverage["no-attachment-export"] != 1 {
		t.Fatalf("coverage = %v", rep.Coverage)
	}
}

func TestParseCasesErrors(t *testing.T) {
	t.Parallel()
	for name, src := range map[string]string{
		"unknown key":  "cases:\n  - {name: a, tool: x, identity: {}, expcet: {allow: true}}\n",
		"no tool":      "cases:\n  - {name: a, identity: {}}\n",
		"no cases":     "tests: []\n",
		"not yaml":     "cases: [\n",
		"bad identity": "cases:\n  - {name: a, tool: x, identity: {sub: 5}}\n",
	} {
		cases, err := policy.ParseCases("t.yaml", []byte(src))
		if err == nil && name == "bad identity" {
			_, _, err = cases[0].Input(nil)
		}
		if err == nil {
			t.Errorf("%s: want error", name)
			continue
		}
		var pe *policy.Error
		if name != "bad identity" && (!errors.As(err, &pe) || !strings.HasPrefix(err.Error(), "t.yaml")) {
			t.Errorf("%s: error %v is not a positioned *policy.Error", name, err)
		}
	}
}

func FuzzParseCases(f *testing.F) {
	data, _ := os.ReadFile("testdata/support/policy_test.yaml")
	f.Add(data)
	f.Add([]byte("cases: [{name: a, tool: b, identity: {sub: 1}}]"))
	set, err := policy.Load(policy.Options{}, "testdata/support/policy.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cases, err := policy.ParseCases("fuzz.yaml", data)
		if err != nil {
			return
		}
		set.Test(context.Background(), cases, nil)
	})
}
