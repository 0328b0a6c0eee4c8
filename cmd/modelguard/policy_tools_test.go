package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
)

const supportDir = "../../policy/testdata/support"

func TestPolicyTestCommand(t *testing.T) {
	t.Parallel()
	code, out, errOut := runCLI(t, "policy", "test", "-require-coverage", supportDir)
	if code != exitOK || !strings.Contains(out, "5 passed, 0 failed; 4 of 4 rules exercised") {
		t.Fatalf("code %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	dir := t.TempDir()
	writeFile(t, dir, "policy.yaml", "rules:\n  - {id: a, effect: permit, tools: [x]}\n  - {id: b, effect: forbid, tools: [y]}\n")
	writeFile(t, dir, "x_test.yaml", "cases:\n  - {name: x is denied, tool: x, identity: {sub: s}, expect: {allow: false}}\n")
	code, out, errOut = runCLI(t, "policy", "test", dir)
	if code != exitFail || !strings.Contains(errOut, "FAIL") || !strings.Contains(errOut, "x is denied") ||
		!strings.Contains(errOut, "allow: got true, want false") || !strings.Contains(out, "0 passed, 1 failed") {
		t.Fatalf("failing case: code %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	writeFile(t, dir, "x_test.yaml", "cases:\n  - {name: x is allowed, tool: x, identity: {sub: s}, expect: {allow: true}}\n")
	if code, _, _ = runCLI(t, "policy", "test", dir); code != exitOK {
		t.Fatalf("passing case without coverage requirement: code %d", code)
	}
	code, _, errOut = runCLI(t, "policy", "test", "-require-coverage", dir)
	if code != exitFail || !strings.Contains(errOut, "rules never exercised: b") {
		t.Fatalf("coverage requirement: code %d stderr %s", code, errOut)
	}
}

func TestPolicyExplainCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	call := writeFile(t, dir, "call.json", `{"tool": "payments.initiate",
  "identity": {"sub": "model:fin", "agent": "finance-bot"},
  "args": {"amount_cents": 90000, "payee": "ACME"},
  "request": {"time": "2026-11-26T14:00:00Z"}}`)
	code, out, errOut := runCLI(t, "policy", "explain", "-input", call, filepath.Join(supportDir, "policy.yaml"))
	if code != exitOK {
		t.Fatalf("code %d: %s", code, errOut)
	}
	for _, want := range []string{"DENY payments.initiate", "payments", "no match", "false: args.amount_cents <= 50000",
		"try-no-night-payments", "shadow"} {
		if !strings.Contains(out, want) {
			t.Errorf("explain output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "false: identity.agent") {
		t.Errorf("a true clause was reported false:\n%s", out)
	}
	code, out, _ = runCLI(t, "policy", "explain", "-json", "-input", call, filepath.Join(supportDir, "policy.yaml"))
	if code != exitOK || !strings.Contains(out, `"False": [`) {
		t.Fatalf("json: code %d\n%s", code, out)
	}
	if code, _, _ = runCLI(t, "policy", "explain", filepath.Join(supportDir, "policy.yaml")); code != exitUsage {
		t.Fatalf("missing -input: code %d", code)
	}
}

type payArgs struct {
	AmountCents int64  `json:"amount_cents"`
	Payee       string `json:"payee"`
}

// recordCalls runs guarded payments under oldPolicy, recording arguments, and
// returns the audit log's path.
func recordCalls(t *testing.T, dir, oldPolicy string, amounts ...int64) string {
	t.Helper()
	key, _ := identity.GenerateKey(jose.EdDSA, "k")
	iss, _ := identity.NewIssuer("https://id", key, identity.IssuerOptions{})
	keys, _ := identity.NewKeySet(iss.PublicKey())
	v, _ := identity.NewVerifier("https://id", "tools", keys, identity.VerifierOptions{})
	set, err := policy.Load(policy.Options{}, writeFile(t, dir, "old.yaml", oldPolicy))
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "audit.jsonl")
	sink, err := audit.OpenFile(logPath, audit.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	enf, _ := tools.NewEnforcer(v, set, sink, tools.Options{RecordArgs: true})
	pay, err := tools.Wrap(enf, tools.Tool{Name: "payments.initiate"}, func(ctx context.Context, in payArgs) (string, error) { return "ok", nil })
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := iss.Mint(identity.Claims{Subject: "model:fin", Audience: []string{"tools"}, Agent: "finance-bot", Expiry: time.Now().Add(time.Minute)})
	for _, a := range amounts {
		_, _ = pay(identity.WithToken(context.Background(), tok), payArgs{AmountCents: a, Payee: "ACME"})
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	return logPath
}

func TestPolicyReplayCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	logPath := recordCalls(t, dir, "rules:\n  - {id: pay-small, effect: permit, tools: [payments.initiate], when: 'args.amount_cents <= 50000'}\n",
		100, 40000, 60000)
	newPolicy := writeFile(t, dir, "new.yaml", "rules:\n  - {id: pay-tiny, effect: permit, tools: [payments.initiate], when: 'args.amount_cents <= 1000'}\n")
	code, out, errOut := runCLI(t, "policy", "replay", "-audit", logPath, "-fail-on-flip", newPolicy)
	if code != exitFail {
		t.Fatalf("code %d, want %d\n%s%s", code, exitFail, out, errOut)
	}
	if !strings.Contains(out, "3 decisions replayed, 1 would flip, 0 not replayable") ||
		!strings.Contains(out, "allow (pay-small)") || !strings.Contains(out, "deny (no rule)") {
		t.Fatalf("replay output:\n%s", out)
	}
	same := writeFile(t, dir, "same.yaml", "rules:\n  - {id: pay-small, effect: permit, tools: [payments.initiate], when: 'args.amount_cents <= 50000'}\n")
	if code, out, _ = runCLI(t, "policy", "replay", "-audit", logPath, "-fail-on-flip", same); code != exitOK || !strings.Contains(out, "0 would flip") {
		t.Fatalf("unchanged policy: code %d\n%s", code, out)
	}
}
