package access_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/policy/access"
)

const opsPolicy = `# The ops agent.
rules:
  # Everything the ops agent may do.
  - id: ops
    effect: permit
    tools:
      - ops.restart
      - ops.status
      - ops.logs
      - ops.deploy
      - ops.scale
      - ops.delete
    when: identity.agent == "ops-bot"
    controls: [NIST-CSF-PR.AA-05]

  # Administration, never used.
  - id: ops-admin
    effect: permit
    tools: ["admin.*"]
    when: identity.agent == "ops-bot"

  - {id: no-delete-prod, effect: forbid, tools: [ops.delete], when: 'identity.env == "prod"'}
`

// writeLog writes a log of decision events and returns it open.
func writeLog(t *testing.T, dir string, events []audit.Event) *audit.Log {
	t.Helper()
	path := filepath.Join(dir, "audit.jsonl")
	f, err := audit.OpenFile(path, audit.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if err := f.Record(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := audit.OpenLog(path)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func call(i int, agent, tool, decision string, rules ...string) audit.Event {
	return audit.Event{ID: fmt.Sprint(i), Time: time.Date(2026, 11, 26, 9, i, 0, 0, time.UTC), Phase: audit.PhaseDecision,
		CallID: fmt.Sprint("call-", i), Tool: tool, Decision: decision, Rules: rules,
		Identity: audit.Identity{Issuer: "https://id.example", Subject: "model:" + agent, Agent: agent}}
}

func suggest(t *testing.T, pol string, events []audit.Event, tools ...policy.Tool) (*access.Suggestion, string) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(path, []byte(pol), 0o644); err != nil {
		t.Fatal(err)
	}
	log := writeLog(t, dir, events)
	u, err := access.ReadUsage(log, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := access.Suggest(context.Background(), []string{path}, log, u, access.SuggestOptions{Tools: tools})
	if err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(path)
	if string(after) != pol {
		t.Fatal("Suggest wrote the policy file")
	}
	return s, path
}

// The case: an agent used 2 of its 6 permitted tools; the suggestion
// permits exactly those 2, and no allowed call flips.
func TestSuggestTwoOfSix(t *testing.T) {
	t.Parallel()
	events := []audit.Event{
		call(1, "ops-bot", "ops.status", audit.Allow, "ops"),
		call(2, "ops-bot", "ops.logs", audit.Allow, "ops"),
		call(3, "ops-bot", "ops.status", audit.Allow, "ops"),
		call(4, "other-bot", "ops.restart", audit.Deny),
	}
	s, path := suggest(t, opsPolicy, events, policy.Tool{Name: "admin.users"})
	if !s.Safe() || s.Replay.Allowed != 3 || s.Replay.StillAllowed != 3 {
		t.Fatalf("replay: %+v", s.Replay)
	}
	if len(s.Changes) != 2 || s.Changes[0].Rule != "ops" || strings.Join(s.Changes[0].After, ",") != "ops.logs,ops.status" ||
		s.Changes[1].Rule != "ops-admin" || !s.Changes[1].Removed {
		t.Fatalf("changes: %+v", s.Changes)
	}
	// ops-bot: 6 ops tools + admin.users before; other-bot: nothing.
	if s.Before != 7 || s.After != 2 {
		t.Errorf("entitlements %d -> %d, want 7 -> 2", s.Before, s.After)
	}
	if len(s.Files) != 1 {
		t.Fatalf("files: %+v", s.Files)
	}
	diff := s.Files[0].Diff
	for _, want := range []string{"-      - ops.restart\n", "+    tools: [\"ops.logs\", \"ops.status\"]\n", "-  # Administration, never used.\n", "-    tools: [\"admin.*\"]\n"} {
		if !strings.Contains(diff, want) {
			t.Errorf("diff lacks %q:\n%s", want, diff)
		}
	}
	if strings.Contains(diff, "-  - {id: no-delete-prod") || strings.Contains(diff, "-# The ops agent.") {
		t.Errorf("diff touches what it should keep:\n%s", diff)
	}
	// The suggested file, loaded, permits ops-bot exactly the two tools used.
	next := filepath.Join(filepath.Dir(path), "next.yaml")
	if err := os.WriteFile(next, s.Files[0].New, 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := policy.Load(policy.Options{}, next)
	if err != nil {
		t.Fatalf("suggested policy: %v\n%s", err, s.Files[0].New)
	}
	universe := access.Tools(set, "ops.restart", "ops.deploy", "ops.scale", "ops.delete", "admin.users")
	may, err := access.WhatCan(context.Background(), set, &identity.Claims{Agent: "ops-bot", Subject: "model:ops-bot"}, universe)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range may {
		names = append(names, a.Tool)
	}
	if !slices.Equal(names, []string{"ops.logs", "ops.status"}) {
		t.Errorf("suggested policy permits %v", names)
	}
	if !strings.Contains(string(s.Files[0].New), "no-delete-prod") || !strings.Contains(string(s.Files[0].New), "controls: [NIST-CSF-PR.AA-05]") {
		t.Errorf("suggested policy lost what it keeps:\n%s", s.Files[0].New)
	}
}

// A log decided under an older policy (other rule ids) still keeps every tool
// the current policy allows it: the plan re-decides, it does not trust ids.
func TestSuggestReDecides(t *testing.T) {
	t.Parallel()
	pol := "rules:\n  - {id: new-id, effect: permit, tools: [a, b, c], when: 'identity.agent == \"x\"'}\n" +
		"  - {id: amounts, effect: permit, tools: [pay], when: 'args.amount <= 100'}\n"
	pay := call(3, "x", "pay", audit.Allow, "amounts")
	paid := call(4, "x", "pay", audit.Allow, "amounts")
	paid.Args = json.RawMessage(`{"amount": 50}`)
	events := []audit.Event{call(1, "x", "a", audit.Allow, "old-id"), call(2, "x", "z", audit.Allow, "gone"), pay, paid}
	s, _ := suggest(t, pol, events)
	if !s.Safe() || s.Replay.StillAllowed != 2 || s.Replay.AlreadyDenied != 1 || s.Replay.NotReplayable != 1 {
		t.Errorf("replay: %+v", s.Replay)
	}
	if len(s.Changes) != 1 || strings.Join(s.Changes[0].After, ",") != "a" {
		t.Errorf("changes: %+v", s.Changes)
	}
}

func TestSuggestNothingToNarrow(t *testing.T) {
	t.Parallel()
	pol := "rules:\n  - {id: r, effect: permit, tools: [a], when: 'identity.agent == \"x\"'}\n"
	s, _ := suggest(t, pol, []audit.Event{call(1, "x", "a", audit.Allow, "r")})
	if len(s.Changes) != 0 || len(s.Files) != 0 || !s.Safe() || s.Before != s.After {
		t.Errorf("%+v", s)
	}
}

// Whatever subset of its tools an agent used, the suggestion permits exactly
// that subset and every allowed call replays as allowed.
func TestSuggestSubsets(t *testing.T) {
	t.Parallel()
	all := []string{"ops.restart", "ops.status", "ops.logs", "ops.deploy", "ops.scale", "ops.delete"}
	for mask := 1; mask < 1<<len(all); mask += 7 {
		var used, events = []string{}, []audit.Event{}
		for i, tool := range all {
			if mask&(1<<i) != 0 {
				used = append(used, tool)
				events = append(events, call(len(events), "ops-bot", tool, audit.Allow, "ops"))
			}
		}
		s, _ := suggest(t, opsPolicy, events)
		if !s.Safe() || s.Replay.StillAllowed != len(used) {
			t.Errorf("mask %b: replay %+v", mask, s.Replay)
		}
		set, err := policy.NewSet(mustParse(t, s, opsPolicy), policy.Options{})
		if err != nil {
			t.Fatal(err)
		}
		may, err := access.WhatCan(context.Background(), set, &identity.Claims{Agent: "ops-bot"}, access.Tools(nil, all...))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, a := range may {
			names = append(names, a.Tool)
		}
		slices.Sort(used)
		if !slices.Equal(names, used) {
			t.Errorf("mask %b: suggested policy permits %v, used %v", mask, names, used)
		}
	}
}

// mustParse returns the rules of the suggested file (the original when unchanged).
func mustParse(t *testing.T, s *access.Suggestion, orig string) []policy.Rule {
	t.Helper()
	src := []byte(orig)
	if len(s.Files) == 1 {
		src = s.Files[0].New
	}
	rules, err := policy.Parse("suggested.yaml", src)
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	return rules
}
