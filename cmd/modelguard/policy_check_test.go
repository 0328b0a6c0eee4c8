package main

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/policy"
)

const goodPolicy = `rules:
  - id: tickets-read
    effect: permit
    tools: ["tickets.get", "tickets.search"]
    when: identity.agent == "support-bot" && "tickets:read" in identity.scopes
    controls: [NIST-CSF-PR.AA-05]
  - id: no-attachment-export
    effect: forbid
    tools: ["attachments.export"]
    message: "'attachment export is blocked for ' + identity.sub"
  - id: payments-need-approval
    effect: permit
    tools: ["payments.*"]
    labels: [money]
    when: args.amount_cents <= 50000
`

// misspelledPolicy has identity.agnet on line 5.
const misspelledPolicy = `rules:
  - id: tickets-read
    effect: permit
    tools: ["tickets.get"]
    when: identity.agnet == "support-bot"
`

const otherPolicy = `rules:
  - id: env-prod
    effect: forbid
    tools: ["*"]
    when: identity.env == "prod"
`

// badTypePolicy compares an int with a string on line 5.
const badTypePolicy = `rules:
  - id: tenant-size
    effect: permit
    tools: [x]
    when: "identity.tenant.size() > 'a'"
`

func TestPolicyCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := writeFile(t, dir, "good.yaml", goodPolicy)
	other := writeFile(t, dir, "other.yaml", otherPolicy)
	misspelled := writeFile(t, dir, "misspelled.yaml", misspelledPolicy)
	badType := writeFile(t, dir, "badtype.yaml", badTypePolicy)
	// check cannot see the tools' Go input types: it says so on stderr.
	argsNote := []string{"^note: args.\\* fields were not type-checked", "^tool's Go input type", "^policytest.Run", "^or build the guards"}
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout []string // regular expressions, one per line, in order
		wantStderr []string
	}{
		{name: "good file", args: []string{good}, wantCode: exitOK,
			wantStdout: []string{"^ok: 3 rules from 1 file, version " + version(t, good) + "$"}, wantStderr: argsNote},
		{name: "two files", args: []string{good, other}, wantCode: exitOK,
			wantStdout: []string{"^ok: 4 rules from 2 files, version " + version(t, good, other) + "$"}, wantStderr: argsNote},
		{name: "misspelled identity field", args: []string{misspelled}, wantCode: exitFail,
			wantStderr: []string{"^" + regexp.QuoteMeta(misspelled) + `:5:\d+: rule tickets-read: .*agnet`}},
		{name: "errors of several files, one per line", args: []string{misspelled, badType}, wantCode: exitFail,
			wantStderr: []string{
				"^" + regexp.QuoteMeta(misspelled) + `:5:\d+: rule tickets-read: .*agnet`,
				"^" + regexp.QuoteMeta(badType) + `:5:\d+: rule tenant-size: `,
			}},
		{name: "missing file", args: []string{good, filepath.Join(dir, "nope.yaml")}, wantCode: exitFail,
			wantStderr: []string{"nope.yaml.*no such file"}},
		{name: "tools", wantCode: exitOK,
			args: []string{"-tool", "tickets.get", good, "-tool", "payments.initiate=money,write",
				"-tool", "payments.refund", "-tool", "attachments.export"},
			wantStdout: []string{
				`^tool tickets.get: tickets-read \(permit\)$`,
				`^tool payments.initiate: payments-need-approval \(permit\)$`,
				`^tool payments.refund: no rule covers it: every call will be denied$`,
				`^tool attachments.export: no-attachment-export \(forbid\); no permit rule: every call will be denied$`,
				"^ok: 3 rules from 1 file, ",
			}, wantStderr: argsNote},
		{name: "no files", args: nil, wantCode: exitUsage, wantStderr: []string{"no policy files given"}},
		{name: "empty tool name", args: []string{"-tool", "=read", good}, wantCode: exitUsage,
			wantStderr: []string{`invalid value "=read" for flag -tool`}},
		{name: "empty label", args: []string{"-tool", "x=a,,b", good}, wantCode: exitUsage,
			wantStderr: []string{"empty label"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runCLI(t, append([]string{"policy", "check"}, tt.args...)...)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.wantCode, stdout, stderr)
			}
			assertLines(t, "stdout", stdout, tt.wantStdout)
			if tt.wantCode != exitUsage {
				assertLines(t, "stderr", stderr, tt.wantStderr)
			} else {
				assertContains(t, "stderr", stderr, tt.wantStderr)
			}
		})
	}
}

// version is the version policy.Load gives the files.
func version(t *testing.T, files ...string) string {
	t.Helper()
	set, err := policy.Load(policy.Options{}, files...)
	if err != nil {
		t.Fatal(err)
	}
	return regexp.QuoteMeta(set.Version())
}

// assertLines checks that out has exactly one line per pattern, matching it.
func assertLines(t *testing.T, what, out string, patterns []string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if out == "" {
		lines = nil
	}
	if len(lines) != len(patterns) {
		t.Errorf("%s has %d lines, want %d:\n%s", what, len(lines), len(patterns), out)
		return
	}
	for i, p := range patterns {
		if !regexp.MustCompile(p).MatchString(lines[i]) {
			t.Errorf("%s line %d = %q, want match for %s", what, i+1, lines[i], p)
		}
	}
}

func TestLeaves(t *testing.T) {
	t.Parallel()
	a, b, c := fmt.Errorf("a"), fmt.Errorf("b"), fmt.Errorf("c")
	nested := fmt.Errorf("wrapped: %w", a) // single-wrapped: a leaf, not split
	tests := []struct {
		name string
		err  error
		want int
	}{
		{name: "single", err: nested, want: 1},
		{name: "joined", err: errors.Join(a, b), want: 2},
		{name: "joined within joined", err: errors.Join(errors.Join(a, b), c), want: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := len(leaves(tt.err)); got != tt.want {
				t.Errorf("%d leaves, want %d", got, tt.want)
			}
		})
	}
}
