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

func TestSupport(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(&out, dir); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, r := range []string{
		`may use: tickets.get, tickets.search\n`,
		`tickets.search .*ALLOW .*"Ann Lee","email":"\[REDACTED\]".*"Bo Chen","email":"\[REDACTED\]"`,
		`tickets.get .*ALLOW .*"email":"\[REDACTED\]"`,
		`tickets.update .*DENY .*modelguard: call to tickets.update denied \(no_permit\)\n`,
		`attachments.export .*DENY .*denied \(forbidden\): attachment export is blocked for model:support-1\n`,
		`customers.export .*DENY .*denied \(unknown_tool\)`,
	} {
		if !regexp.MustCompile(r).MatchString(got) {
			t.Errorf("output lacks %q:\n%s", r, got)
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, logName))
	if err != nil {
		t.Fatal(err)
	}
	for _, where := range []struct{ name, text string }{{"output", got}, {"audit log", string(raw)}} {
		if strings.Contains(where.text, "@customer.example") {
			t.Errorf("a customer e-mail address is in the %s", where.name)
		}
		if (strings.Contains(where.text, "support-tickets-read") || strings.Contains(where.text, "support-tickets-search")) && where.name == "output" {
			t.Errorf("the model was told a rule id")
		}
	}
	var decisions, outcomes int
	err = audit.ReadLog(bytes.NewReader(raw), func(e audit.Event) error {
		switch e.Phase {
		case audit.PhaseDecision:
			decisions++
		case audit.PhaseOutcome:
			outcomes++
			if e.Outcome != audit.OutcomeOK || len(e.Redacted) == 0 {
				t.Errorf("%s outcome: %s, redacted %v", e.Tool, e.Outcome, e.Redacted)
			}
		}
		if e.SessionID != "support-session-1" || e.Identity.Subject != "model:support-1" {
			t.Errorf("event %d: session %q subject %q", e.Seq, e.SessionID, e.Identity.Subject)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if decisions != 5 || outcomes != 2 {
		t.Errorf("log has %d decisions and %d outcomes, want 5 and 2", decisions, outcomes)
	}
}
