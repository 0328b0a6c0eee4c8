package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// newFlagSet returns a flag set for the command at path whose usage shows
// synopsis, then about, then the flags. It never prints or exits on its own:
// parseFlags decides where the usage goes.
func newFlagSet(path, synopsis, about string) *flag.FlagSet {
	fset := flag.NewFlagSet(path, flag.ContinueOnError)
	fset.Usage = func() {
		w := fset.Output()
		fmt.Fprintf(w, "usage: %s %s\n\n%s\n", path, synopsis, about)
		if hasFlags(fset) {
			fmt.Fprintln(w, "\nflags:")
			fset.PrintDefaults()
		}
	}
	return fset
}

func hasFlags(fset *flag.FlagSet) bool {
	n := 0
	fset.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// parseFlags parses args with fset, allowing flags after positional arguments
// ("policy check a.yaml -tool x") until a "--". It returns the positional
// arguments, or ok false and the exit code when the command must stop: after
// -h (usage on stdout, success) or a bad flag (error and usage on stderr).
func parseFlags(fset *flag.FlagSet, args []string, stdout, stderr io.Writer) (pos []string, code int, ok bool) {
	fset.SetOutput(io.Discard)
	for {
		err := fset.Parse(args)
		if errors.Is(err, flag.ErrHelp) {
			fset.SetOutput(stdout)
			fset.Usage()
			return nil, exitOK, false
		}
		if err != nil {
			return nil, usageError(fset, stderr, "%v", err), false
		}
		rest := fset.Args()
		if len(rest) == 0 {
			return pos, exitOK, true
		}
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), exitOK, true
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// usageError reports a command-line mistake and returns exitUsage.
func usageError(fset *flag.FlagSet, stderr io.Writer, format string, args ...any) int {
	fmt.Fprintf(stderr, "%s: %s\nRun '%s -h' for usage.\n", fset.Name(), fmt.Sprintf(format, args...), fset.Name())
	return exitUsage
}

// fail reports a failure of the command (not of its command line) and returns
// exitFail.
func fail(stderr io.Writer, path string, err error) int {
	fmt.Fprintf(stderr, "%s: %v\n", path, err)
	return exitFail
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ", ") }

func (l *listFlag) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// requireFlags returns an error naming the first of the named flags whose value
// is empty.
func requireFlags(fset *flag.FlagSet, names ...string) error {
	for _, n := range names {
		if f := fset.Lookup(n); f != nil && f.Value.String() == "" {
			return fmt.Errorf("-%s is required", n)
		}
	}
	return nil
}

// noArgs returns an error when a command that takes only flags got arguments.
func noArgs(pos []string) error {
	if len(pos) > 0 {
		return fmt.Errorf("unexpected argument %q (this command takes only flags)", pos[0])
	}
	return nil
}
