package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

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

// TestQueryCellEscapes: whatever a field holds, a table cell is one line of
// printable characters with no terminal escape, and distinct fields stay
// distinct (the escaping is reversible by strconv.Unquote).
func TestQueryCellEscapes(t *testing.T) {
	t.Parallel()
	hostile := []string{"\x1b[2J\x1b[31mallow", "a\rforged row", "a\nb", "x\u2028y", "x\u2029y", "\u202etxt", "tab\there", "\xff\xfe", `back\slash`, "\x00", "é ok"}
	r := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		b := make([]byte, r.IntN(12))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		hostile = append(hostile, string(b))
	}
	for _, s := range hostile {
		c := cell(s)
		for _, r := range c {
			if !unicode.IsPrint(r) || r == '\t' {
				t.Fatalf("cell(%q) = %q holds %U", s, c, r)
			}
		}
		back, err := strconv.Unquote(`"` + strings.ReplaceAll(c, `"`, `\"`) + `"`)
		if err != nil || back != s {
			t.Fatalf("cell(%q) = %q does not read back (%q, %v)", s, c, back, err)
		}
	}
}

// verify -key on a log whose checkpoint file is gone checked no signature: it
// says so and fails, unless -allow-no-checkpoint makes it a warning.
func TestAuditVerifyMissingCheckpoint(t *testing.T) {
	t.Parallel()
	logPath, pub := auditLog(t, 4)
	if err := os.Remove(logPath + ".checkpoint"); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "audit", "verify", "-key", pub, logPath)
	if code != exitFail || !strings.Contains(errOut, "no checkpoint, so -key checked nothing") {
		t.Fatalf("exit %d, stdout %q, stderr %q: want a failure naming the missing checkpoint", code, out, errOut)
	}
	code, _, errOut = runCLI(t, "audit", "verify", "-key", pub, "-allow-no-checkpoint", logPath)
	if code != exitOK || !strings.Contains(errOut, "warning:") || !strings.Contains(errOut, "no checkpoint") {
		t.Fatalf("-allow-no-checkpoint: exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runCLI(t, "audit", "verify", logPath)
	if code != exitOK || !strings.Contains(errOut, "no checkpoint") {
		t.Fatalf("without -key: exit %d, stderr %q: want a warning", code, errOut)
	}
}
