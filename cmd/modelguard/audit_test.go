package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/modelguard/modelguard/audit"
)

// auditLog writes a signed log of n calls with the key made by "audit keygen"
// and returns its path and the verifier key file.
func auditLog(t *testing.T, n int) (logPath, pub string) {
	t.Helper()
	dir := t.TempDir()
	prefix := filepath.Join(dir, "ckpt")
	if code, _, errOut := runCLI(t, "audit", "keygen", "-name", "example.com/support-bot", "-out", prefix); code != exitOK {
		t.Fatalf("keygen: %d %s", code, errOut)
	}
	skey, _ := os.ReadFile(prefix + ".key")
	signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		t.Fatal(err)
	}
	logPath = filepath.Join(dir, "audit.jsonl")
	f, err := audit.OpenFile(logPath, audit.FileOptions{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for i := range n {
		e := audit.Event{ID: fmt.Sprint(i), Time: at.Add(time.Duration(i) * time.Minute), Phase: audit.PhaseDecision,
			Tool: []string{"tickets.get", "attachments.export"}[i%2], Decision: []string{audit.Allow, audit.Deny}[i%2],
			Rules: []string{[]string{"tickets-read", "no-attachment-export"}[i%2]}, SessionID: "conv-1",
			PromptID: fmt.Sprintf("turn-%d", i), CallID: fmt.Sprintf("call_%d", i),
			Identity: audit.Identity{Agent: "support-bot", Subject: "model:a"}}
		if err := f.Record(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return logPath, prefix + ".pub"
}

func TestAuditVerify(t *testing.T) {
	t.Parallel()
	logPath, pub := auditLog(t, 6)
	trusted := filepath.Join(filepath.Dir(logPath), "trusted.checkpoint")
	b, _ := os.ReadFile(logPath + ".checkpoint")
	os.WriteFile(trusted, b, 0o644)

	code, out, errOut := runCLI(t, "audit", "verify", "-key", pub, "-checkpoint", trusted, logPath)
	if code != exitOK || !strings.Contains(out, "ok: 6 records") || !strings.Contains(out, "signed by example.com/support-bot") {
		t.Fatalf("verify: %d\n%s%s", code, out, errOut)
	}
	lines := strings.SplitAfter(string(mustRead(t, logPath)), "\n")
	os.WriteFile(logPath, []byte(strings.Join(append(lines[:2:2], lines[3:]...), "")), 0o600)
	code, _, errOut = runCLI(t, "audit", "verify", "-key", pub, logPath)
	if code != exitFail || !strings.Contains(errOut, "record missing: record 3") {
		t.Fatalf("verify of a log with record 3 deleted: %d %s", code, errOut)
	}
	if code, _, _ := runCLI(t, "audit", "verify", "-checkpoint", trusted, logPath); code != exitUsage {
		t.Fatalf("-checkpoint without -key: exit %d", code)
	}
}

func TestAuditProve(t *testing.T) {
	t.Parallel()
	logPath, pub := auditLog(t, 5)
	dir := filepath.Dir(logPath)
	old := filepath.Join(dir, "old.checkpoint")
	os.WriteFile(old, mustRead(t, logPath+".checkpoint"), 0o644)

	code, out, errOut := runCLI(t, "audit", "prove", logPath, "-seq", "4")
	if code != exitOK {
		t.Fatalf("prove -seq: %d %s", code, errOut)
	}
	proof := filepath.Join(dir, "proof.json")
	os.WriteFile(proof, []byte(out), 0o644)
	code, out, errOut = runCLI(t, "audit", "verify", "-proof", proof, "-key", pub)
	if code != exitOK || !strings.Contains(out, "ok: record 4 is in the log example.com/support-bot of 5 records") {
		t.Fatalf("verify -proof: %d %s%s", code, out, errOut)
	}
	var p map[string]any
	json.Unmarshal(mustRead(t, proof), &p)
	p["seq"] = 3
	b, _ := json.Marshal(p)
	os.WriteFile(proof, b, 0o644)
	if code, _, errOut := runCLI(t, "audit", "verify", "-proof", proof, "-key", pub); code != exitFail || !strings.Contains(errOut, "bad proof") {
		t.Fatalf("verify of a doctored proof: %d %s", code, errOut)
	}

	code, out, errOut = runCLI(t, "audit", "prove", logPath, "-consistency", old)
	if code != exitOK {
		t.Fatalf("prove -consistency: %d %s", code, errOut)
	}
	os.WriteFile(proof, []byte(out), 0o644)
	if code, out, _ := runCLI(t, "audit", "verify", "-proof", proof, "-key", pub); code != exitOK || !strings.Contains(out, "extends itself at 5") {
		t.Fatalf("verify consistency proof: %d %s", code, out)
	}
	for _, bad := range [][]string{{logPath}, {logPath, "-seq", "0"}, {logPath, "-seq", "1", "-consistency", old}} {
		if code, _, _ := runCLI(t, append([]string{"audit", "prove"}, bad...)...); code != exitUsage {
			t.Errorf("prove %v: exit %d, want usage", bad, code)
		}
	}
}

func TestAuditQuery(t *testing.T) {
	t.Parallel()
	logPath, _ := auditLog(t, 6)
	code, out, errOut := runCLI(t, "audit", "query", "-agent", "support-bot", "-decision", "deny", "-since", "2026-11-26T12:02:00Z", logPath)
	if code != exitOK || !strings.Contains(errOut, "2 events") {
		t.Fatalf("query: %d %s", code, errOut)
	}
	rows := strings.Split(strings.TrimSpace(out), "\n")
	if len(rows) != 3 || !strings.Contains(rows[1], "turn-3") || !strings.Contains(rows[1], "no-attachment-export") ||
		!strings.HasPrefix(rows[0], "TIME") {
		t.Fatalf("timeline:\n%s", out)
	}
	code, out, _ = runCLI(t, "audit", "query", "-json", "-rule", "tickets-read", logPath)
	var e audit.Event
	if code != exitOK || len(strings.Split(strings.TrimSpace(out), "\n")) != 3 || json.Unmarshal([]byte(strings.Split(out, "\n")[0]), &e) != nil || e.Seq != 1 {
		t.Fatalf("query -json: %d\n%s", code, out)
	}
	if code, _, _ := runCLI(t, "audit", "query", "-since", "yesterday", logPath); code != exitUsage {
		t.Fatalf("bad -since: exit %d", code)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
