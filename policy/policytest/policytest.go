package policytest

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/policy"
)

// Options configure [Run]. The zero value runs the cases and reports coverage
// without failing on it.
type Options struct {
	// RequireCoverage fails the test if some rule was never exercised.
	RequireCoverage bool
}

// Run reads the test files at paths, decides every case with set (tools gives the
// input types and labels of the real tools, as the guard would see them), and
// runs each case as a subtest that fails with every unmet expectation.
func Run(t *testing.T, set *policy.Set, tools []policy.Tool, opts Options, paths ...string) policy.Report {
	t.Helper()
	var cases []policy.Case
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		cs, err := policy.ParseCases(p, data)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, cs...)
	}
	rep := set.Test(context.Background(), cases, tools)
	for _, res := range rep.Results {
		t.Run(res.Case.Name, func(t *testing.T) {
			for _, f := range res.Failures {
				t.Errorf("%s: %s", res.Case.Pos, f)
			}
		})
	}
	if un := rep.Uncovered(); len(un) > 0 {
		msg := "rules never exercised: " + strings.Join(un, ", ")
		if opts.RequireCoverage {
			t.Error(msg)
		} else {
			t.Log(msg)
		}
	}
	return rep
}
