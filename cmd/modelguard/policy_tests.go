package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/modelguard/modelguard/policy"
)

const testAbout = `Test runs policy test cases. Each argument is a policy file, a test file
(a name ending in _test.yaml) or a directory, which contributes its *.yaml
policy files and *_test.yaml test files. Every case is decided by the combined
policy and compared with its expectations; the command prints each failure,
then the rule coverage, and exits 1 if a case failed (or, with
-require-coverage, if a rule was never exercised).`

func runPolicyTest(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("modelguard policy test", "[-require-coverage] [-tool name[=label,...]]... DIR|FILE...", testAbout)
	requireCoverage := fset.Bool("require-coverage", false, "fail if a rule is never exercised")
	var tools toolsFlag
	fset.Var(&tools, "tool", "labels of a tool `name[=label,...]` (repeatable)")
	paths, code, ok := parseFlags(fset, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(paths) == 0 {
		return usageError(fset, stderr, "no policy or test files given")
	}
	policies, tests, err := splitTestPaths(paths)
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	set, err := policy.Load(policy.Options{}, policies...)
	if err != nil {
		printErrors(stderr, err)
		return exitFail
	}
	cases, err := readCases(tests)
	if err != nil {
		printErrors(stderr, err)
		return exitFail
	}
	rep := set.Test(context.Background(), cases, tools)
	return printReport(stdout, stderr, rep, *requireCoverage)
}

// splitTestPaths expands directories and sorts the files into policies and tests.
func splitTestPaths(paths []string) (policies, tests []string, err error) {
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, nil, err
		}
		files := []string{p}
		if fi.IsDir() {
			if files, err = filepath.Glob(filepath.Join(p, "*.yaml")); err != nil {
				return nil, nil, err
			}
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.yaml") {
				tests = append(tests, f)
			} else {
				policies = append(policies, f)
			}
		}
	}
	if len(policies) == 0 || len(tests) == 0 {
		return nil, nil, fmt.Errorf("need policy files and test files (*_test.yaml); got %d and %d", len(policies), len(tests))
	}
	return policies, tests, nil
}

func readCases(paths []string) ([]policy.Case, error) {
	var all []policy.Case
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		cases, err := policy.ParseCases(p, data)
		if err != nil {
			return nil, err
		}
		all = append(all, cases...)
	}
	return all, nil
}

func printReport(stdout, stderr io.Writer, rep policy.Report, requireCoverage bool) int {
	failed := rep.Failed()
	for _, res := range failed {
		fmt.Fprintf(stderr, "FAIL %s: %s\n", res.Case.Pos, res.Case.Name)
		for _, f := range res.Failures {
			fmt.Fprintf(stderr, "    %s\n", f)
		}
	}
	ids := make([]string, 0, len(rep.Coverage))
	for id := range rep.Coverage {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	fmt.Fprintln(stdout, "coverage:")
	for _, id := range ids {
		fmt.Fprintf(stdout, "  %-32s %d\n", id, rep.Coverage[id])
	}
	un := rep.Uncovered()
	fmt.Fprintf(stdout, "%d passed, %d failed; %d of %d rules exercised\n", len(rep.Results)-len(failed), len(failed), len(ids)-len(un), len(ids))
	switch {
	case len(failed) > 0:
		return exitFail
	case requireCoverage && len(un) > 0:
		fmt.Fprintf(stderr, "rules never exercised: %s\n", strings.Join(un, ", "))
		return exitFail
	}
	return exitOK
}
