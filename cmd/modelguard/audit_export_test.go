package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/audit/ocsf"
)

func TestAuditExportOCSF(t *testing.T) {
	t.Parallel()
	logPath, pub := auditLog(t, 6)
	out := filepath.Join(t.TempDir(), "ocsf.jsonl")
	code, _, errOut := runCLI(t, "audit", "export", "-format", "ocsf", "-key", pub, "-o", out, logPath)
	if code != exitOK || !strings.Contains(errOut, "6 events exported") {
		t.Fatalf("%d %s", code, errOut)
	}
	b, _ := os.ReadFile(out)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 6 {
		t.Fatalf("%d lines", len(lines))
	}
	for i, l := range lines {
		var ev ocsf.Event
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatal(err)
		}
		cp := ev.Unmapped.Modelguard.Merkle.Checkpoint
		if ev.ClassUID != 6003 || ev.Metadata.Sequence != uint64(i+1) || cp == nil || !cp.Verified || !cp.Covered {
			t.Errorf("line %d: %s", i+1, l)
		}
		if want := []int{1, 2}[i%2]; ev.ActionID != want {
			t.Errorf("line %d: action_id %d, want %d", i+1, ev.ActionID, want)
		}
	}
	// Without -key the checkpoint is marked unverified.
	code, stdout, _ := runCLI(t, "audit", "export", "-format", "ocsf", logPath)
	if code != exitOK || !strings.Contains(stdout, `"signature_verified":false`) {
		t.Errorf("unverified export: %d", code)
	}
	// A key that did not sign the checkpoint fails the export.
	_, other := auditLog(t, 1)
	if code, _, errOut := runCLI(t, "audit", "export", "-format", "ocsf", "-key", other, logPath); code != exitFail {
		t.Errorf("wrong key: %d %s", code, errOut)
	}
	if code, _, _ := runCLI(t, "audit", "export", logPath); code != exitUsage {
		t.Errorf("no -format: %d", code)
	}
	if code, out, _ := runCLI(t, "audit", "export", "-h"); code != exitOK || !strings.Contains(out, "6003") {
		t.Errorf("-h: %d %s", code, out)
	}
	// The examples' logs.
	fin, _ := fixture("finance")
	code, stdout, _ = runCLI(t, "audit", "export", "-format", "ocsf", fin)
	if code != exitOK || strings.Count(stdout, "\n") != 9 || !strings.Contains(stdout, `"operation":"payments.initiate"`) {
		t.Errorf("finance: %d\n%s", code, stdout)
	}
}
