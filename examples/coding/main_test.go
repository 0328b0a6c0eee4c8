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

func TestCoding(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(&out, dir); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	steps := []string{
		`model  repo.read .*src/main.go.* ALLOW`,
		`model  repo.read .*\.env.* DENY .*\(no_permit\)`,
		`model  deploy.run .*staging.* ALLOW .*Bearer \[secret:deploy-token\]: 201 Created`,
		`model  deploy.run .*production.* DENY .*\(approval_required\): this call needs human approval; request apr-1 is pending`,
		`model  secrets.read .*prod/db-password.* DENY .*\(approval_required\)`,
		`human  alice@dev.example approves deploy.run .*production`,
		`human  alice@dev.example denies secrets.read`,
		`model  deploy.run .*production.* ALLOW .*Bearer \[secret:deploy-token\]: 201 Created`,
		`model  secrets.read .*prod/db-password.* DENY .*\(approval_required\)`,
		`model  deploy.run .*production.* DENY .*\(approval_required\): this call needs human approval; request apr-4 is pending`,
	}
	lines := strings.Split(strings.TrimSpace(got), "\n")
	for i, r := range steps {
		if i >= len(lines) || !regexp.MustCompile(r).MatchString(lines[i]) {
			t.Errorf("step %d does not match %q:\n%s", i+1, r, got)
		}
	}
	raw, err := os.ReadFile(filepath.Join(dir, logName))
	if err != nil {
		t.Fatal(err)
	}
	for name, value := range vault {
		if strings.Contains(got, value) || strings.Contains(string(raw), value) {
			t.Errorf("the value of %s leaked", name)
		}
	}
	var approved, withSecret int
	err = audit.ReadLog(bytes.NewReader(raw), func(e audit.Event) error {
		if e.Phase != audit.PhaseDecision || e.Decision != audit.Allow {
			return nil
		}
		if e.Grant != nil && e.Grant.Approver == "alice@dev.example" {
			approved++
		}
		if strings.Join(e.Secrets, ",") == "deploy-token" {
			withSecret++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if approved != 1 || withSecret != 2 {
		t.Errorf("log shows %d approved calls and %d with the deploy token, want 1 and 2", approved, withSecret)
	}
}
