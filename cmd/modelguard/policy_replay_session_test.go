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

const payLimitPolicy = `rules:
  - {id: pay, effect: permit, tools: [payments.initiate], when: 'session.count("payments.initiate") < LIMIT'}
`

// Decisions that read session history replay from the facts their events
// recorded: the same policy replays unchanged, a stricter count flips, and a
// rule reading a fact never recorded is not replayable.
func TestPolicyReplaySession(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key, _ := identity.GenerateKey(jose.EdDSA, "k")
	iss, _ := identity.NewIssuer("https://id", key, identity.IssuerOptions{})
	keys, _ := identity.NewKeySet(iss.PublicKey())
	v, _ := identity.NewVerifier("https://id", "tools", keys, identity.VerifierOptions{})
	old := writeFile(t, dir, "old.yaml", strings.Replace(payLimitPolicy, "LIMIT", "3", 1))
	set, err := policy.Load(policy.Options{}, old)
	if err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(dir, "audit.jsonl")
	sink, err := audit.OpenFile(logPath, audit.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	enf, _ := tools.NewEnforcer(v, set, sink, tools.Options{Sessions: &tools.MemorySessions{}})
	pay, err := tools.Wrap(enf, tools.Tool{Name: "payments.initiate"}, func(ctx context.Context, in payArgs) (string, error) { return "ok", nil })
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := iss.Mint(identity.Claims{Subject: "model:fin", Audience: []string{"tools"}, Expiry: time.Now().Add(time.Minute)})
	ctx := tools.WithCall(identity.WithToken(context.Background(), tok), tools.Call{SessionID: "s1"})
	for i := 0; i < 4; i++ {
		_, _ = pay(ctx, payArgs{AmountCents: 1})
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "policy", "replay", "-audit", logPath, "-fail-on-flip", old)
	if code != exitOK || !strings.Contains(out, "4 decisions replayed, 0 would flip, 0 not replayable") {
		t.Fatalf("same policy: code %d\n%s%s", code, out, errOut)
	}
	stricter := writeFile(t, dir, "new.yaml", strings.Replace(payLimitPolicy, "LIMIT", "1", 1))
	code, out, _ = runCLI(t, "policy", "replay", "-audit", logPath, stricter)
	if code != exitOK || !strings.Contains(out, "4 decisions replayed, 2 would flip") {
		t.Fatalf("stricter policy: code %d\n%s", code, out)
	}
	other := writeFile(t, dir, "other.yaml", "rules:\n  - {id: pay, effect: permit, tools: [payments.initiate], when: 'session.count(\"invoices.*\") == 0'}\n")
	code, out, _ = runCLI(t, "policy", "replay", "-audit", logPath, other)
	if !strings.Contains(out, "4 not replayable") || !strings.Contains(out, "history fact not recorded") {
		t.Fatalf("unrecorded fact: code %d\n%s", code, out)
	}
	plain := writeFile(t, dir, "plain.yaml", "rules:\n  - {id: pay, effect: permit, tools: [payments.initiate], when: 'history.calls < 10'}\n")
	if _, out, _ = runCLI(t, "policy", "replay", "-audit", logPath, plain); !strings.Contains(out, "did not record") {
		t.Fatalf("principal never recorded:\n%s", out)
	}
}

// A call for explain can state the session's history, in the shape a decision
// event records it.
func TestPolicyExplainSession(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pol := writeFile(t, dir, "p.yaml", `rules:
  - {id: no-exfil, effect: forbid, tools: [http.post], when: '"untrusted" in session.labels && "private" in session.labels'}
  - {id: post, effect: permit, tools: [http.post]}
`)
	call := writeFile(t, dir, "call.yaml", "tool: http.post\nidentity: {sub: m}\nsession: {id: s1, labels: [private, untrusted], calls: 2}\n")
	code, out, errOut := runCLI(t, "policy", "explain", "-input", call, pol)
	if !strings.Contains(out, "DENY") || !strings.Contains(out, "no-exfil") {
		t.Fatalf("code %d\n%s%s", code, out, errOut)
	}
}
