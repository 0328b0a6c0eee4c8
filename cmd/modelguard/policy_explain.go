package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/modelguard/modelguard/policy"
)

const explainAbout = `Explain decides one call, described in a JSON (or YAML) file of the shape of
a policy test case ({"tool": …, "labels": […], "identity": {claims},
"args": {…}, "request": {…}}), and shows what every rule covering the tool
did: matched or not, and for a rule whose condition was false, the clauses
that were false. With -json it prints the explanation as JSON.`

func runPolicyExplain(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("modelguard policy explain", "-input call.json [-json] FILE...", explainAbout)
	input := fset.String("input", "", "the call to explain (`file`)")
	asJSON := fset.Bool("json", false, "print JSON")
	files, code, ok := parseFlags(fset, args, stdout, stderr)
	if !ok {
		return code
	}
	if *input == "" || len(files) == 0 {
		return usageError(fset, stderr, "need -input and at least one policy file")
	}
	set, err := policy.Load(policy.Options{}, files...)
	if err != nil {
		printErrors(stderr, err)
		return exitFail
	}
	c, err := readCall(*input)
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	ex, err := explain(set, c)
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return exitIf(enc.Encode(ex), stderr, fset.Name())
	}
	printExplanation(stdout, ex)
	return exitOK
}

// readCall reads one call in the shape of a policy test case (JSON or YAML).
func readCall(path string) (policy.Case, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return policy.Case{}, err
	}
	var call map[string]any
	if err := yaml.Unmarshal(data, &call); err != nil {
		return policy.Case{}, fmt.Errorf("%s: %w", path, err)
	}
	if call == nil {
		return policy.Case{}, fmt.Errorf("%s: empty call", path)
	}
	if _, ok := call["name"]; !ok {
		call["name"] = path // a call needs no name; a case does
	}
	doc, err := json.Marshal(map[string]any{"cases": []any{call}})
	if err != nil {
		return policy.Case{}, fmt.Errorf("%s: %w", path, err)
	}
	cases, err := policy.ParseCases(path, doc)
	if err != nil {
		return policy.Case{}, err
	}
	return cases[0], nil
}

func explain(set *policy.Set, c policy.Case) (policy.Explanation, error) {
	tool, in, err := c.Input(nil)
	if err != nil {
		return policy.Explanation{}, err
	}
	prog, err := set.Compile(tool)
	if err != nil {
		return policy.Explanation{}, err
	}
	return prog.Explain(context.Background(), in)
}

func printExplanation(w io.Writer, ex policy.Explanation) {
	d := ex.Decision
	verdict := "DENY"
	if d.Allowed {
		verdict = "ALLOW"
	}
	fmt.Fprintf(w, "%s %s (policy %s)\n", verdict, ex.Tool, d.Version)
	for _, r := range d.Reasons {
		fmt.Fprintf(w, "  reason: %s\n", r)
	}
	if len(ex.Rules) == 0 {
		fmt.Fprintln(w, "  no rule covers this tool")
	}
	for _, r := range ex.Rules {
		state := "no match"
		switch {
		case r.Error != "":
			state = "ERROR: " + r.Error
		case r.Matched:
			state = "matched"
		}
		fmt.Fprintf(w, "  %-8s %-7s %-28s %s  (%s)\n", r.Mode, r.Effect, r.Rule, state, r.Pos)
		for _, f := range r.False {
			fmt.Fprintf(w, "           false: %s\n", f)
		}
	}
}

func exitIf(err error, stderr io.Writer, path string) int {
	if err != nil {
		return fail(stderr, path, err)
	}
	return exitOK
}
