package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/audit"
)

func TestMCP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(&out, dir); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, r := range []string{
		`MCP server on http://127\.0\.0\.1:\d+\n`,
		`support-bot sees: tickets.get\n`,
		`tickets.get \{"id":"T-1001"\} -> ok +\{"id":"T-1001",.*"email":"\[REDACTED\]"`,
		`attachments.export \{"id":"T-1001"\} -> error modelguard: call to attachments.export denied \(forbidden\): attachment export is blocked for model:support-bot\n`,
		`coding-assistant sees: repo.read\n`,
		`repo.read \{"path":"src/main.go"\} -> ok +"package main // src/main.go"`,
		`tickets.get \{"id":"T-1001"\} -> error modelguard: call to tickets.get denied \(no_permit\)\n`,
		`without a token:\n  connect: refused \(401 Unauthorized\)`,
	} {
		if !regexp.MustCompile(r).MatchString(got) {
			t.Errorf("output lacks %q:\n%s", r, got)
		}
	}
	if strings.Contains(got, "@customer.example") || strings.Contains(got, "no-attachment-export") {
		t.Errorf("the model was told more than it may:\n%s", got)
	}
	f, err := os.Open(filepath.Join(dir, logName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	subjects := map[string]int{}
	err = audit.ReadLog(f, func(e audit.Event) error {
		if e.Phase == audit.PhaseDecision {
			subjects[e.Identity.Subject+" "+e.Tool+" "+e.Decision]++
			if e.SessionID == "" {
				t.Errorf("decision %d has no MCP session", e.Seq)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		"model:support-bot tickets.get allow": 1, "model:support-bot attachments.export deny": 1,
		"model:coding-assistant repo.read allow": 1, "model:coding-assistant tickets.get deny": 1,
	}
	if len(subjects) != len(want) {
		t.Errorf("decisions %v, want %v", subjects, want)
	}
	for k, n := range want {
		if subjects[k] != n {
			t.Errorf("decisions %v, want %v", subjects, want)
			break
		}
	}
}
