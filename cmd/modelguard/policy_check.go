package main

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/modelguard/modelguard/policy"
)

const checkAbout = `Check loads the policy files as one set, exactly as a guard would, and checks
every rule: structure, unique ids, CEL syntax, and types against identity,
tool and request. It prints the number of rules and the set's version, or
every problem found, one per line as file:line:col: rule ID: message, and
exits 1.

With -tool, it also compiles the set for each named tool, with args left
dynamic (their fields are checked when a guard compiles the tool with its
Go input type), lists the rules that cover the tool, and warns (without
failing) about rules that cover none of the named tools, globs that match
none, permits an unconditional forbid makes unreachable, and unused
variables.`

func runPolicyCheck(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("modelguard policy check", "[-tool name[=label,...]]... FILE...", checkAbout)
	var tools toolsFlag
	fset.Var(&tools, "tool", "also compile for the tool `name[=label,...]` (repeatable)")
	files, code, ok := parseFlags(fset, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(files) == 0 {
		return usageError(fset, stderr, "no policy files given")
	}
	set, err := policy.Load(policy.Options{}, files...)
	if err != nil {
		printErrors(stderr, err)
		return exitFail
	}
	if err := checkTools(stdout, set, tools); err != nil {
		printErrors(stderr, err)
		return exitFail
	}
	if len(tools) > 0 {
		for _, w := range set.Lint(tools) {
			fmt.Fprintln(stderr, "warning:", w)
		}
	}
	n := len(set.Rules())
	fmt.Fprintf(stdout, "ok: %d %s from %d %s, version %s\n", n, plural(n, "rule"), len(files), plural(len(files), "file"), set.Version())
	if usesArgs(set.Rules()) {
		fmt.Fprintln(stderr, argsNotChecked)
	}
	return exitOK
}

// argsNotChecked says what check could not do: the CLI has no Go input types.
const argsNotChecked = `note: args.* fields were not type-checked: they take their types from each
tool's Go input type. Check them where the types are, from go test:
policytest.Run(t, set, []policy.Tool{{Name: "...", Input: reflect.TypeFor[In]()}}, ...)
or build the guards (NewGuard fails on a field the input type lacks).`

// usesArgs reports whether any rule's expressions mention args.
func usesArgs(rules []policy.Rule) bool {
	for _, r := range rules {
		exprs := []string{r.When, r.Message}
		for _, v := range r.Variables {
			exprs = append(exprs, v.Expr)
		}
		for _, e := range exprs {
			if strings.Contains(e, "args") {
				return true
			}
		}
	}
	return false
}

// checkTools compiles set for each tool and reports the rules that cover it.
// It returns the compile errors of all tools, joined.
func checkTools(w io.Writer, set *policy.Set, tools []policy.Tool) error {
	var errs []error
	for _, t := range tools {
		if _, err := set.Compile(t); err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintf(w, "tool %s: %s\n", t.Name, coverage(set.Rules(), t))
	}
	return errors.Join(errs...)
}

// coverage describes which rules cover t, and says so when t can never be
// allowed because no permit rule covers it.
func coverage(rules []policy.Rule, t policy.Tool) string {
	var ids []string
	permits := 0
	for i := range rules {
		if rules[i].Covers(t.Name, t.Labels) {
			ids = append(ids, fmt.Sprintf("%s (%s)", rules[i].ID, rules[i].Effect))
			if rules[i].Effect == policy.Permit {
				permits++
			}
		}
	}
	if len(ids) == 0 {
		return "no rule covers it: every call will be denied"
	}
	s := strings.Join(ids, ", ")
	if permits == 0 {
		s += "; no permit rule: every call will be denied"
	}
	return s
}

// printErrors writes err one problem per line, splitting joined errors.
func printErrors(w io.Writer, err error) {
	for _, e := range leaves(err) {
		fmt.Fprintln(w, e.Error())
	}
}

// leaves flattens a tree of joined errors into the errors it is made of.
func leaves(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, leaves(e)...)
	}
	return out
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// toolsFlag is the repeatable -tool flag: name, or name=label1,label2.
type toolsFlag []policy.Tool

func (t *toolsFlag) String() string {
	names := make([]string, len(*t))
	for i, tool := range *t {
		names[i] = tool.Name
	}
	return strings.Join(names, ", ")
}

func (t *toolsFlag) Set(v string) error {
	name, labels, hasLabels := strings.Cut(v, "=")
	if name == "" {
		return fmt.Errorf("%q: want name or name=label1,label2", v)
	}
	if slices.ContainsFunc(*t, func(x policy.Tool) bool { return x.Name == name }) {
		return fmt.Errorf("tool %q given twice", name)
	}
	tool := policy.Tool{Name: name}
	if hasLabels && labels != "" {
		tool.Labels = strings.Split(labels, ",")
		if slices.Contains(tool.Labels, "") {
			return fmt.Errorf("%q: empty label", v)
		}
	}
	*t = append(*t, tool)
	return nil
}
