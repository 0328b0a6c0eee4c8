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

func TestQuickstart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(&out, dir); err != nil {
		t.Fatal(err)
	}
	rows := []string{
		`support-bot\s+tickets.get\s+T-1001\s+ALLOW`,
		`support-bot\s+attachments.export\s+T-1001\s+DENY\s+\[forbidden\] attachment export is blocked for model:support-1`,
		`coding-assistant\s+repo.read\s+src/main.go\s+ALLOW`,
		`coding-assistant\s+repo.read\s+\.env\s+DENY\s+\[no_permit\]`,
		`coding-assistant\s+secrets.get\s+prod/db-password\s+DENY\s+\[forbidden\] production secret prod/db-password`,
		`\(no token\)\s+tickets.get\s+T-1001\s+DENY\s+\[unauthenticated\] no identity token`,
	}
	for _, r := range rows {
		if !regexp.MustCompile(r).MatchString(out.String()) {
			t.Errorf("output lacks a row matching %q:\n%s", r, out.String())
		}
	}
	logPath := filepath.Join(dir, "modelguard-quickstart-audit.jsonl")
	if !strings.Contains(out.String(), logPath) {
		t.Errorf("output does not say where the audit log is")
	}
	f, err := os.Open(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var decisions, allows, outcomes int
	err = audit.ReadLog(f, func(e audit.Event) error {
		switch e.Phase {
		case audit.PhaseDecision:
			decisions++
			if e.Decision == audit.Allow {
				allows++
			}
		case audit.PhaseOutcome:
			outcomes++
		}
		if e.SessionID != "quickstart-session" {
			t.Errorf("event %d has session %q", e.Seq, e.SessionID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// 8 calls: one decision each; the 2 allowed ones also have an outcome.
	if decisions != 8 || allows != 2 || outcomes != 2 {
		t.Fatalf("log has %d decisions (%d allow), %d outcomes; want 8 (2), 2", decisions, allows, outcomes)
	}
}
