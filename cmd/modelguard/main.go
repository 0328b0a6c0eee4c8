package main

import (
	"fmt"
	"io"
	"os"
	"text/tabwriter"
)

// Exit codes: every command returns one of these.
const (
	exitOK    = 0 // done
	exitFail  = 1 // the command ran and found a problem (bad policy, unreadable key, …)
	exitUsage = 2 // the command line itself is wrong
)

// command is one entry of the command table: a leaf with run, or a group with
// subcommands. New commands (token inspect, policy test, audit verify, …) are a
// new row here and a new file.
type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
	sub     []command
}

// commands returns the command table. It is a function, not a variable, because
// help refers back to it.
func commands() []command {
	return []command{
		{name: "keygen", summary: "generate a signing key and its public JWK Set", run: runKeygen},
		{name: "keys", summary: "manage JWK Sets", sub: []command{
			{name: "rotate", summary: "add a new key to a JWK Set and retire the old ones", run: runKeysRotate},
		}},
		{name: "token", summary: "mint and inspect model identity tokens", sub: []command{
			{name: "mint", summary: "sign a token with a private JWK", run: runTokenMint},
			{name: "inspect", summary: "decode a token and say why it verifies or not", run: runTokenInspect},
		}},
		{name: "policy", summary: "work with policy files", sub: []command{
			{name: "check", summary: "parse and type-check policy files", run: runPolicyCheck},
			{name: "test", summary: "run YAML policy test cases and report rule coverage", run: runPolicyTest},
			{name: "explain", summary: "show how every rule decides one call", run: runPolicyExplain},
			{name: "replay", summary: "re-decide an audit log's calls under a new policy", run: runPolicyReplay},
			{name: "bundle", summary: "build, sign and verify signed policy bundles", sub: bundleCommands()},
		}},
		{name: "access", summary: "least privilege: who can call what, what is used, narrower policies", sub: accessCommands()},
		{name: "audit", summary: "verify, prove and query tamper-evident audit logs", sub: auditCommands()},
		{name: "approve", summary: "list, grant and deny human approval requests", sub: []command{
			{name: "list", summary: "list approval requests", run: runApproveList},
			{name: "grant", summary: "sign a grant for a request and approve it", run: runApproveGrant},
			{name: "deny", summary: "deny a request", run: runApproveDeny},
			{name: "elevate", summary: "sign a temporary elevation grant", run: runApproveElevate},
		}},
		{name: "console", summary: "serve the operator console: approvals, session explorer, identities", run: runConsole},
		{name: "kill", summary: "stop an agent, subject, tenant, tool or everything on every instance", sub: killCommands()},
		{name: "help", summary: "show help for a command", run: runHelp},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole CLI behind main, callable in-process by tests.
func run(args []string, stdout, stderr io.Writer) int {
	return dispatch("modelguard", commands(), args, stdout, stderr)
}

// dispatch runs the command in cmds named by args[0], passing it the rest.
// With no name it prints usage and fails; -h, -help and --help print usage and
// succeed.
func dispatch(path string, cmds []command, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printUsage(stderr, path, cmds)
		return exitUsage
	}
	name := args[0]
	if name == "-h" || name == "-help" || name == "--help" {
		printUsage(stdout, path, cmds)
		return exitOK
	}
	c, ok := find(cmds, name)
	if !ok {
		fmt.Fprintf(stderr, "%s: unknown command %q\n", path, name)
		printUsage(stderr, path, cmds)
		return exitUsage
	}
	if c.sub != nil {
		return dispatch(path+" "+c.name, c.sub, args[1:], stdout, stderr)
	}
	return c.run(args[1:], stdout, stderr)
}

func find(cmds []command, name string) (command, bool) {
	for _, c := range cmds {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func printUsage(w io.Writer, path string, cmds []command) {
	fmt.Fprintf(w, "usage: %s <command> [flags] [args]\n\ncommands:\n", path)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range cmds {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nRun '%s <command> -h' for the flags of a command.\n", path)
}

// runHelp prints the usage of the command named by args (none: the top level).
// It asks the command itself, with -h, so each command documents its own flags.
func runHelp(args []string, stdout, stderr io.Writer) int {
	return run(append(args, "-h"), stdout, stderr)
}
