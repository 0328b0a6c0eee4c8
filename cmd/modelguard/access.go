package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/policy/access"
)

// accessCommands are the subcommands of "modelguard access".
func accessCommands() []command {
	return []command{
		{name: "who-can", summary: "who may call a tool, from the policy alone", run: runAccessWhoCan},
		{name: "what-can", summary: "what an identity (claims or a token) may call, from the policy alone", run: runAccessWhatCan},
		{name: "inventory", summary: "every model identity an audit log saw, and what it called", run: runAccessInventory},
		{name: "unused", summary: "entitlements the policy grants that the audit log shows unused", run: runAccessUnused},
		{name: "suggest", summary: "draft a narrower policy from observed use, proven by replaying the log", run: runAccessSuggest},
		{name: "report", summary: "write a self-contained HTML compliance report and its JSON", run: runAccessReport},
	}
}

const whoCanAbout = `Who-can shows, for each -tool (default: every tool the policy names), the
enforced permit rules that may let a call through and the forbid rules that
may stop it, each with its conditions on the identity and on the arguments
(what is left of the rule once the tool is known, by CEL partial evaluation)
and the obligations it sets. It reads the policy in FILE... only.`

func runAccessWhoCan(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("modelguard access who-can", "[-tool name[=label,...]]... [-json] FILE...", whoCanAbout)
	var tools toolsFlag
	fset.Var(&tools, "tool", "the tool `name[=label,...]` to ask about (repeatable)")
	asJSON := fset.Bool("json", false, "print JSON")
	files, code, ok := parseFlags(fset, args, stdout, stderr)
	if !ok {
		return code
	}
	set, code, ok := loadPolicy(fset, files, stderr)
	if !ok {
		return code
	}
	if len(tools) == 0 {
		tools = access.Tools(set)
	}
	var out []access.Access
	for _, t := range tools {
		a, err := access.WhoCan(context.Background(), set, t)
		if err != nil {
			printErrors(stderr, err)
			return exitFail
		}
		out = append(out, a)
	}
	if *asJSON {
		return printJSON(stdout, stderr, fset.Name(), out)
	}
	printAccess(stdout, out, "anyone")
	return exitOK
}

const whatCanAbout = `What-can shows every tool the identity in -claims may call under the policy in
FILE..., and under what condition on the arguments, the request or an
approval grant. -claims is a file (or - for stdin) holding a JSON object of
claims ({"sub": "model:a", "agent": "support-bot", "scope": "tickets:read"})
or a token, whose signature is NOT checked: this asks what the claims would be
allowed. Tools are those the policy names, those given with -tool, and, with
-audit, those called in that log.`

func runAccessWhatCan(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("modelguard access what-can", "-claims FILE|- [-audit LOG] [-tool name]... [-json] FILE...", whatCanAbout)
	claimsPath := fset.String("claims", "", "`file` of claims or a token (- for stdin)")
	logPath := fset.String("audit", "", "also consider the tools called in this audit `log`")
	var tools toolsFlag
	fset.Var(&tools, "tool", "also consider the tool `name[=label,...]` (repeatable)")
	asJSON := fset.Bool("json", false, "print JSON")
	files, code, ok := parseFlags(fset, args, stdout, stderr)
	if !ok {
		return code
	}
	if *claimsPath == "" {
		return usageError(fset, stderr, "-claims is required")
	}
	set, code, ok := loadPolicy(fset, files, stderr)
	if !ok {
		return code
	}
	claims, err := readClaims(*claimsPath)
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	universe, err := toolUniverse(set, tools, *logPath)
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	out, err := access.WhatCan(context.Background(), set, claims, universe)
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	if *asJSON {
		return printJSON(stdout, stderr, fset.Name(), out)
	}
	printAccess(stdout, out, "yes, always")
	fmt.Fprintf(stdout, "%d of %d tools may be called\n", len(out), len(universe))
	return exitOK
}

func readClaims(path string) (*identity.Claims, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(io.LimitReader(os.Stdin, access.MaxClaimsSize+1))
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, err
	}
	return access.ParseClaims(data)
}

const inventoryAbout = `Inventory lists every model identity (issuer, subject, agent, tenant, env) the
audit log LOG recorded a decision for: models, scopes, how many tokens, first
and last seen, calls allowed and denied, and per tool. Identities not seen
for -stale before -now (default: the log's last decision) are flagged STALE.
Key ids and token lifetimes are not in audit events, so they are not shown.
-since and -until take an RFC 3339 time or a duration back from now.`

func runAccessInventory(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("modelguard access inventory", "[-since TIME] [-until TIME] [-stale 720h] [-now TIME] [-json] LOG", inventoryAbout)
	var w windowFlags
	w.register(fset)
	stale := fset.Duration("stale", 30*24*time.Hour, "flag identities not seen for this `duration`")
	nowFlag := fset.String("now", "", "measure staleness from this `TIME` (default: the last decision)")
	asJSON := fset.Bool("json", false, "print JSON")
	pos, code, ok := parseFlags(fset, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return usageError(fset, stderr, "want exactly one LOG")
	}
	now, err := parseWhen(*nowFlag, time.Now())
	if err != nil {
		return usageError(fset, stderr, "-now: %v", err)
	}
	u, code, ok := w.usage(fset, pos[0], stderr)
	if !ok {
		return code
	}
	inv := u.Inventory(access.InventoryOptions{Now: now, StaleAfter: *stale})
	if *asJSON {
		return printJSON(stdout, stderr, fset.Name(), inv)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SUBJECT\tAGENT\tISSUER\tMODELS\tTOKENS\tFIRST SEEN\tLAST SEEN\tALLOW\tDENY\tTOOLS\tFLAGS")
	for _, id := range inv {
		var tools []string
		for _, t := range id.Tools {
			tools = append(tools, fmt.Sprintf("%s(%d/%d)", t.Tool, t.Calls.Allow, t.Calls.Total()))
		}
		flags := "-"
		if id.Stale {
			flags = "STALE"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%d\t%d\t%s\t%s\n", dash(id.Subject), dash(id.Agent), dash(id.Issuer),
			dash(strings.Join(id.Models, ",")), id.Tokens, stamp(id.FirstSeen), stamp(id.LastSeen), id.Calls.Allow, id.Calls.Deny,
			dash(strings.Join(tools, " ")), flags)
	}
	tw.Flush()
	fmt.Fprintf(stdout, "%d identities\n", len(inv))
	return exitOK
}

const unusedAbout = `Unused compares the policy in FILE... with the audit log -audit over the
window -since..-until: for each identity seen, the tools it may call (for the
claims of its last decision) but never called; permit rules that let no call
through; forbid rules that denied nothing; and upper bounds on numeric
arguments at least -wide times the largest value an allowed call used (only
calls whose arguments were recorded count). The tools considered are those
the policy names, those in the log, and those given with -tool.`

func runAccessUnused(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("modelguard access unused", "-audit LOG [-since TIME] [-until TIME] [-tool name]... [-wide 10] [-json] FILE...", unusedAbout)
	var w windowFlags
	w.register(fset)
	logPath := fset.String("audit", "", "the audit `log`")
	var tools toolsFlag
	fset.Var(&tools, "tool", "also consider the tool `name[=label,...]` (repeatable)")
	wide := fset.Float64("wide", 10, "report argument bounds this many `times` the largest observed")
	asJSON := fset.Bool("json", false, "print JSON")
	files, code, ok := parseFlags(fset, args, stdout, stderr)
	if !ok {
		return code
	}
	if *logPath == "" {
		return usageError(fset, stderr, "-audit is required")
	}
	set, code, ok := loadPolicy(fset, files, stderr)
	if !ok {
		return code
	}
	u, code, ok := w.usage(fset, *logPath, stderr)
	if !ok {
		return code
	}
	f, err := access.Unused(context.Background(), set, u, mergeTools(access.Tools(set), tools), access.UnusedOptions{WideFactor: *wide})
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	if *asJSON {
		return printJSON(stdout, stderr, fset.Name(), f)
	}
	printFindings(stdout, f)
	return exitOK
}

func printFindings(w io.Writer, f access.Findings) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "IDENTITY\tUSED\tUNUSED")
	for _, e := range f.Identities {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", dash(e.Identity.String()), dash(strings.Join(e.Used, ", ")), dash(strings.Join(e.Unused, ", ")))
	}
	tw.Flush()
	fmt.Fprintf(w, "permit rules that never matched: %s\n", dash(strings.Join(f.PermitsNeverMatched, ", ")))
	fmt.Fprintf(w, "forbid rules that never fired: %s\n", dash(strings.Join(f.ForbidsNeverFired, ", ")))
	for _, a := range f.WideArgs {
		fmt.Fprintf(w, "wide bound: rule %s on %s: %s, largest allowed value seen %g\n", cell(a.Rule), cell(a.Tool), cell(a.Clause), a.MaxObserved)
	}
}

// windowFlags are -since and -until of the commands that read usage from a log.
type windowFlags struct{ since, until string }

func (w *windowFlags) register(fset *flag.FlagSet) {
	fset.StringVar(&w.since, "since", "", "only events at or after `TIME`")
	fset.StringVar(&w.until, "until", "", "only events before `TIME`")
}

// usage reads the log at path within the window.
func (w *windowFlags) usage(fset *flag.FlagSet, path string, stderr io.Writer) (*access.Usage, int, bool) {
	now := time.Now()
	since, err := parseWhen(w.since, now)
	if err != nil {
		return nil, usageError(fset, stderr, "-since: %v", err), false
	}
	until, err := parseWhen(w.until, now)
	if err != nil {
		return nil, usageError(fset, stderr, "-until: %v", err), false
	}
	l, err := audit.OpenLog(path)
	if err != nil {
		return nil, fail(stderr, fset.Name(), err), false
	}
	u, err := access.ReadUsage(l, since, until)
	if err != nil {
		return nil, fail(stderr, fset.Name(), err), false
	}
	return u, exitOK, true
}

func loadPolicy(fset *flag.FlagSet, files []string, stderr io.Writer) (*policy.Set, int, bool) {
	if len(files) == 0 {
		return nil, usageError(fset, stderr, "no policy files given"), false
	}
	set, err := policy.Load(policy.Options{}, files...)
	if err != nil {
		printErrors(stderr, err)
		return nil, exitFail, false
	}
	return set, exitOK, true
}

// toolUniverse is the tools the policy names, those given, and those in the log.
func toolUniverse(set *policy.Set, given []policy.Tool, logPath string) ([]policy.Tool, error) {
	tools := mergeTools(access.Tools(set), given)
	if logPath == "" {
		return tools, nil
	}
	l, err := audit.OpenLog(logPath)
	if err != nil {
		return nil, err
	}
	u, err := access.ReadUsage(l, time.Time{}, time.Time{})
	if err != nil {
		return nil, err
	}
	var names []policy.Tool
	for _, n := range u.ToolNames() {
		names = append(names, policy.Tool{Name: n})
	}
	return mergeTools(tools, names), nil
}

// mergeTools adds more to tools; a tool given in more (with its labels) wins.
func mergeTools(tools, more []policy.Tool) []policy.Tool {
	out := slices.Clone(more)
	for _, t := range tools {
		if !slices.ContainsFunc(out, func(x policy.Tool) bool { return x.Name == t.Name }) {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b policy.Tool) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// printAccess prints paths as a table; always is what a rule that holds
// whatever the unknowns shows in the IDENTITY column.
func printAccess(w io.Writer, as []access.Access, always string) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOOL\tEFFECT\tRULE\tIDENTITY\tARGS\tOTHER\tOBLIGATIONS")
	for _, a := range as {
		if len(a.Permits) == 0 && len(a.Forbids) == 0 {
			fmt.Fprintf(tw, "%s\t-\t-\tnobody: no permit rule covers it\t-\t-\t-\n", cell(a.Tool))
		}
		for _, p := range append(append([]access.Path(nil), a.Permits...), a.Forbids...) {
			id := strings.Join(p.Identity, " && ")
			if p.Always {
				id = always
			}
			if p.Error != "" {
				id = "fails: " + p.Error
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cell(a.Tool), p.Effect, cell(p.Rule), dash(id),
				dash(strings.Join(p.Args, " && ")), dash(strings.Join(p.Other, " && ")), dash(obligations(p)))
		}
	}
	tw.Flush()
}

func obligations(p access.Path) string {
	var parts []string
	for _, r := range p.Require {
		parts = append(parts, "require "+r)
	}
	if len(p.Redact) > 0 {
		parts = append(parts, "redact "+strings.Join(p.Redact, ","))
	}
	if p.Limit != nil {
		parts = append(parts, fmt.Sprintf("limit %g/s per %s", p.Limit.Rate, p.Limit.Per))
	}
	if p.Budget != nil {
		parts = append(parts, fmt.Sprintf("budget %s <= %g per %s", p.Budget.Expr, p.Budget.Max, p.Budget.Window))
	}
	return strings.Join(parts, "; ")
}

func printJSON(stdout, stderr io.Writer, name string, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fail(stderr, name, err)
	}
	return exitOK
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
