package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/policy/access"
)

// The fixtures are the audit logs of the finance and support examples, beside
// the examples' own policies.
func fixture(name string) (log, pol string) {
	return filepath.Join("..", "..", "policy", "access", "testdata", "modelguard-"+name+"-audit.jsonl"),
		filepath.Join("..", "..", "examples", name, "policy.yaml")
}

func TestAccessHelp(t *testing.T) {
	t.Parallel()
	for _, sub := range []string{"who-can", "what-can", "inventory", "unused", "suggest", "report"} {
		code, out, _ := runCLI(t, "access", sub, "-h")
		if code != exitOK || !strings.Contains(out, "usage: modelguard access "+sub) || !(strings.Contains(out, "-json") || sub == "report") {
			t.Errorf("%s -h: %d %q", sub, code, out)
		}
	}
	if code, _, errOut := runCLI(t, "access", "who-can"); code != exitUsage || !strings.Contains(errOut, "no policy files") {
		t.Errorf("who-can without files: %d %s", code, errOut)
	}
	if code, _, _ := runCLI(t, "access", "what-can", "x.yaml"); code != exitUsage {
		t.Errorf("what-can without -claims: %d", code)
	}
	if code, _, _ := runCLI(t, "access", "unused", "x.yaml"); code != exitUsage {
		t.Errorf("unused without -audit: %d", code)
	}
}

func TestAccessWhoCan(t *testing.T) {
	t.Parallel()
	_, pol := fixture("finance")
	code, out, errOut := runCLI(t, "access", "who-can", "-tool", "payments.initiate", pol)
	if code != exitOK {
		t.Fatalf("%d %s", code, errOut)
	}
	for _, want := range []string{"payments-need-approval", `identity.agent == "finance-bot"`, "args.amount_cents <= 50000", "require approval"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	code, out, _ = runCLI(t, "access", "who-can", "-json", pol)
	var as []access.Access
	if code != exitOK || json.Unmarshal([]byte(out), &as) != nil || len(as) != 2 || as[0].Tool != "invoices.summarize" {
		t.Errorf("-json: %d %s", code, out)
	}
}

func TestAccessWhatCan(t *testing.T) {
	t.Parallel()
	log, pol := fixture("support")
	claims := writeFile(t, t.TempDir(), "claims.json", `{"sub":"model:s","agent":"support-bot","scope":"tickets:read"}`)
	code, out, errOut := runCLI(t, "access", "what-can", "-claims", claims, "-audit", log, "-json", pol)
	var as []access.Access
	if code != exitOK || json.Unmarshal([]byte(out), &as) != nil {
		t.Fatalf("%d %s %s", code, out, errOut)
	}
	var names []string
	for _, a := range as {
		names = append(names, a.Tool)
	}
	if strings.Join(names, ",") != "tickets.get,tickets.search" {
		t.Errorf("what-can: %v", names)
	}
	code, out, _ = runCLI(t, "access", "what-can", "-claims", claims, "-audit", log, pol)
	if code != exitOK || !strings.Contains(out, "2 of 5 tools may be called") {
		t.Errorf("table: %d\n%s", code, out)
	}
	bad := writeFile(t, t.TempDir(), "bad.json", `{"sub": 1}`)
	if code, _, errOut := runCLI(t, "access", "what-can", "-claims", bad, pol); code != exitFail || !strings.Contains(errOut, "claims") {
		t.Errorf("bad claims: %d %s", code, errOut)
	}
}

func TestAccessInventory(t *testing.T) {
	t.Parallel()
	log, _ := fixture("finance")
	code, out, errOut := runCLI(t, "access", "inventory", log)
	if code != exitOK || !strings.Contains(out, "model:finance-1") || !strings.Contains(out, "payments.initiate(1/6)") || strings.Contains(out, "STALE") {
		t.Errorf("%d %s\n%s", code, errOut, out)
	}
	code, out, _ = runCLI(t, "access", "inventory", "-now", "2027-01-01T00:00:00Z", log)
	if code != exitOK || !strings.Contains(out, "STALE") {
		t.Errorf("not flagged stale a month later: %s", out)
	}
	code, out, _ = runCLI(t, "access", "inventory", "-json", log)
	var inv []access.Identity
	if code != exitOK || json.Unmarshal([]byte(out), &inv) != nil || len(inv) != 1 || inv[0].Calls.Total() != 7 {
		t.Errorf("-json: %s", out)
	}
}

func TestAccessUnused(t *testing.T) {
	t.Parallel()
	log, _ := fixture("support")
	dir := t.TempDir()
	pol := writeFile(t, dir, "wide.yaml", `
rules:
  - id: support-all
    effect: permit
    tools: ["tickets.get", "tickets.search", "tickets.update", "tickets.close"]
    when: identity.agent == "support-bot"
  - id: never
    effect: forbid
    tools: ["tickets.delete"]
`)
	code, out, errOut := runCLI(t, "access", "unused", "-audit", log, "-json", pol)
	var f access.Findings
	if code != exitOK || json.Unmarshal([]byte(out), &f) != nil {
		t.Fatalf("%d %s %s", code, out, errOut)
	}
	if len(f.Identities) != 1 || strings.Join(f.Identities[0].Unused, ",") != "tickets.close" {
		t.Errorf("unused: %+v", f.Identities)
	}
	// The log was decided under the example's policy, whose rule ids differ.
	if strings.Join(f.ForbidsNeverFired, ",") != "never" || strings.Join(f.PermitsNeverMatched, ",") != "support-all" {
		t.Errorf("rules: %+v", f)
	}
	code, out, _ = runCLI(t, "access", "unused", "-audit", log, pol)
	if code != exitOK || !strings.Contains(out, "forbid rules that never fired: never") {
		t.Errorf("table: %s", out)
	}
}

func TestAccessSuggest(t *testing.T) {
	t.Parallel()
	log, _ := fixture("support")
	dir := t.TempDir()
	const wide = `rules:
  # Everything about tickets.
  - id: support-tickets
    effect: permit
    tools: ["tickets.*"]
    when: identity.agent == "support-bot"
  - id: no-attachment-export
    effect: forbid
    tools: ["attachments.export"]
`
	pol := writeFile(t, dir, "wide.yaml", wide)
	code, out, errOut := runCLI(t, "access", "suggest", "-audit", log, "-tool", "tickets.update", "-tool", "tickets.delete", pol)
	if code != exitOK {
		t.Fatalf("%d %s", code, errOut)
	}
	for _, want := range []string{
		`-    tools: ["tickets.*"]`, `+    tools: ["tickets.get", "tickets.search"]`,
		"replay: 2 allowed calls: 2 still allowed, 0 would be denied",
		"entitlements: 4 -> 2 (identity, tool) pairs: 2 possible calls removed",
		"globs replaced by names (they covered more tools than can be counted): tickets.*",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if b, _ := os.ReadFile(pol); string(b) != wide {
		t.Fatal("suggest wrote the file without -write")
	}
	if code, _, errOut := runCLI(t, "access", "suggest", "-audit", log, "-write", pol); code != exitOK || !strings.Contains(errOut, "wrote "+pol) {
		t.Fatalf("-write: %d %s", code, errOut)
	}
	b, _ := os.ReadFile(pol)
	if !strings.Contains(string(b), `tools: ["tickets.get", "tickets.search"]`) || !strings.Contains(string(b), "# Everything about tickets.") {
		t.Errorf("written:\n%s", b)
	}
	// Run again on the narrowed file: nothing left to narrow.
	code, out, _ = runCLI(t, "access", "suggest", "-audit", log, "-json", pol)
	var s access.Suggestion
	if code != exitOK || json.Unmarshal([]byte(out), &s) != nil || len(s.Changes) != 0 || !s.Safe() {
		t.Errorf("second run: %d %s", code, out)
	}
}

func TestAccessReport(t *testing.T) {
	t.Parallel()
	log, pol := fixture("finance")
	dir := t.TempDir()
	mapping := writeFile(t, dir, "sox.yaml", "controls:\n  - {tag: SOX-ITGC-CHANGE, framework: SOX ITGC, id: CM-1, title: \"Changes are approved\"}\n")
	out := filepath.Join(dir, "r.html")
	code, stdout, errOut := runCLI(t, "access", "report", "-audit", log, "-mapping", mapping, "-o", out, pol)
	if code != exitOK || !strings.Contains(stdout, "report: "+out) {
		t.Fatalf("%d %s %s", code, stdout, errOut)
	}
	html, _ := os.ReadFile(out)
	if !strings.Contains(string(html), "Changes are approved") || !strings.Contains(string(html), "ASI03") {
		t.Errorf("report lacks the extended mapping")
	}
	b, err := os.ReadFile(filepath.Join(dir, "r.json"))
	var r access.Report
	if err != nil || json.Unmarshal(b, &r) != nil || r.Decisions.Total() != 7 || len(r.Controls) != 3 {
		t.Errorf("json: %v %+v", err, r)
	}
	code, stdout, _ = runCLI(t, "access", "report", "-print-mapping")
	if code != exitOK || !strings.Contains(stdout, "ASI10") || !strings.Contains(stdout, "NHI10") {
		t.Errorf("-print-mapping: %d", code)
	}
	bad := writeFile(t, dir, "bad.yaml", "controls:\n  - {tag: x}\n")
	if code, _, _ := runCLI(t, "access", "report", "-audit", log, "-mapping", bad, "-o", out, pol); code != exitFail {
		t.Errorf("bad mapping: %d", code)
	}
}
