package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/policy/access"
)

const suggestAbout = `Suggest drafts a narrower version of the policy in FILE... from the use the
audit log -audit shows (within -since..-until): each enforced permit rule
keeps only the tools the calls it allowed used (re-decided under the current
policy, not taken from the log's rule ids), and a permit that let nothing
through is removed; forbid and shadow rules stay. Only the lines of changed
rules are edited. It prints the change as a unified diff, then checks it by
replaying every allowed call of the log through the current and the
suggested policy, and reports how many (identity, tool) entitlements it
removes. If any call the current policy allows would be denied, it prints
those calls and exits 1. It writes nothing unless -write is given, and then
only a suggestion that passed the check.`

func runAccessSuggest(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("modelguard access suggest", "-audit LOG [-since TIME] [-until TIME] [-tool name[=label,...]]... [-json] [-write] FILE...", suggestAbout)
	var w windowFlags
	w.register(fset)
	logPath := fset.String("audit", "", "the audit `log`")
	var tools toolsFlag
	fset.Var(&tools, "tool", "labels of a tool, or a tool to count, `name[=label,...]` (repeatable)")
	asJSON := fset.Bool("json", false, "print JSON")
	write := fset.Bool("write", false, "replace FILE... with the suggestion once it passed the replay check")
	files, code, ok := parseFlags(fset, args, stdout, stderr)
	if !ok {
		return code
	}
	if *logPath == "" || len(files) == 0 {
		return usageError(fset, stderr, "need -audit and at least one policy file")
	}
	u, code, ok := w.usage(fset, *logPath, stderr)
	if !ok {
		return code
	}
	log, err := audit.OpenLog(*logPath)
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	s, err := access.Suggest(context.Background(), files, log, u, access.SuggestOptions{Tools: tools})
	if err != nil {
		printErrors(stderr, err)
		return exitFail
	}
	if *asJSON {
		if code := printJSON(stdout, stderr, fset.Name(), s); code != exitOK {
			return code
		}
	} else {
		printSuggestion(stdout, s)
	}
	if !s.Safe() {
		fmt.Fprintf(stderr, "%s: the suggestion would deny %d allowed calls; nothing written\n", fset.Name(), len(s.Replay.Flipped))
		return exitFail
	}
	if *write {
		for _, f := range s.Files {
			fi, err := os.Stat(f.Path)
			if err != nil {
				return fail(stderr, fset.Name(), err)
			}
			if err := replaceFile(f.Path, f.New, fi.Mode().Perm()); err != nil {
				return fail(stderr, fset.Name(), err)
			}
			fmt.Fprintf(stderr, "wrote %s\n", f.Path)
		}
	}
	return exitOK
}

func printSuggestion(w io.Writer, s *access.Suggestion) {
	for _, f := range s.Files {
		fmt.Fprint(w, f.Diff)
	}
	if len(s.Files) == 0 {
		fmt.Fprintln(w, "nothing to narrow: every permit rule is used for all the tools it names")
	}
	r := s.Replay
	fmt.Fprintf(w, "replay: %d allowed calls: %d still allowed, %d would be denied", r.Allowed, r.StillAllowed, len(r.Flipped))
	if r.NotReplayable > 0 {
		fmt.Fprintf(w, ", %d not replayable (arguments not recorded; their rules keep their tools)", r.NotReplayable)
	}
	if r.AlreadyDenied > 0 {
		fmt.Fprintf(w, ", %d already denied by the current policy", r.AlreadyDenied)
	}
	fmt.Fprintln(w)
	for _, f := range r.Flipped {
		fmt.Fprintf(w, "  would deny: seq %d %s by %s: %s\n", f.Seq, cell(f.Tool), cell(f.Subject), cell(strings.Join(f.Reasons, "; ")))
	}
	fmt.Fprintf(w, "entitlements: %d -> %d (identity, tool) pairs: %d possible calls removed\n", s.Before, s.After, s.Before-s.After)
	if len(s.Globs) > 0 {
		fmt.Fprintf(w, "globs replaced by names (they covered more tools than can be counted): %s\n", cell(strings.Join(s.Globs, ", ")))
	}
}
