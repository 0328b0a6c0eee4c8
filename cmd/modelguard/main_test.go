package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// runCLI runs the CLI in-process and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// writeFile writes content to name in dir and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDispatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout []string // substrings
		wantStderr []string // substrings
	}{
		{name: "unknown command", args: []string{"bogus"}, wantCode: exitUsage,
			wantStderr: []string{`unknown command "bogus"`, "keygen", "token", "policy", "help"}},
		{name: "no args", args: nil, wantCode: exitUsage,
			wantStderr: []string{"usage: modelguard <command>", "keygen"}},
		{name: "help", args: []string{"help"}, wantCode: exitOK,
			wantStdout: []string{"usage: modelguard <command>", "keygen", "token", "policy"}},
		{name: "-h", args: []string{"-h"}, wantCode: exitOK, wantStdout: []string{"keygen"}},
		{name: "help of a leaf", args: []string{"help", "token", "mint"}, wantCode: exitOK,
			wantStdout: []string{"usage: modelguard token mint", "-sub", "-claim"}},
		{name: "help of a group", args: []string{"help", "policy"}, wantCode: exitOK,
			wantStdout: []string{"usage: modelguard policy <command>", "check"}},
		{name: "group without subcommand", args: []string{"token"}, wantCode: exitUsage,
			wantStderr: []string{"usage: modelguard token <command>", "mint"}},
		{name: "unknown subcommand", args: []string{"token", "bogus"}, wantCode: exitUsage,
			wantStderr: []string{`modelguard token: unknown command "bogus"`, "mint"}},
		{name: "unknown flag", args: []string{"keygen", "-bogus"}, wantCode: exitUsage,
			wantStderr: []string{"modelguard keygen:", "-bogus"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runCLI(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d\nstderr: %s", code, tt.wantCode, stderr)
			}
			assertContains(t, "stdout", stdout, tt.wantStdout)
			assertContains(t, "stderr", stderr, tt.wantStderr)
			if tt.wantStdout == nil && stdout != "" {
				t.Errorf("stdout = %q, want empty", stdout)
			}
		})
	}
}

func assertContains(t *testing.T, what, got string, want []string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, got)
		}
	}
}

func TestParseFlagsInterspersed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		args      []string
		wantPos   []string
		wantTools []string
	}{
		{name: "flags first", args: []string{"-tool", "a", "x.yaml"}, wantPos: []string{"x.yaml"}, wantTools: []string{"a"}},
		{name: "flags after files", args: []string{"x.yaml", "-tool", "a", "y.yaml", "-tool", "b"},
			wantPos: []string{"x.yaml", "y.yaml"}, wantTools: []string{"a", "b"}},
		{name: "double dash ends flags", args: []string{"x.yaml", "--", "-tool", "b"},
			wantPos: []string{"x.yaml", "-tool", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fset := newFlagSet("test", "", "")
			var tools toolsFlag
			fset.Var(&tools, "tool", "")
			pos, code, ok := parseFlags(fset, tt.args, &bytes.Buffer{}, &bytes.Buffer{})
			if !ok || code != exitOK {
				t.Fatalf("parseFlags: ok %v code %d", ok, code)
			}
			if !slices.Equal(pos, tt.wantPos) {
				t.Errorf("positional %q, want %q", pos, tt.wantPos)
			}
			var names []string
			for _, tool := range tools {
				names = append(names, tool.Name)
			}
			if !slices.Equal(names, tt.wantTools) {
				t.Errorf("tools %q, want %q", names, tt.wantTools)
			}
		})
	}
}
