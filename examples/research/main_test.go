package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/audit"
)

// TestResearch checks that the audit log alone tells which prompt led to each
// query, what was asked and what came back.
func TestResearch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(&out, dir); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"prompt-2-call-1 vectors.search {\"query\":\"engineering salary bands\",\"collection\":\"hr\",\"k\":3}: denied (forbidden) by no-hr-collection",
		"prompt-3-call-1 vectors.search {\"query\":\"lithium-sulfur energy density\",\"collection\":\"papers\",\"k\":1}: allowed by research-search",
		"prompt-1-call-1 returned p1 \"Energy density of drone batteries\", p2 \"Wind and multirotor range\"",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("reconstruction lacks %q:\n%s", want, out.String())
		}
	}

	// Read the log as an investigator would, with nothing but the file.
	logPath := filepath.Join(dir, logName)
	f, err := os.Open(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	asked := map[string][]string{} // prompt → arguments of each search, in order
	saw := map[string]string{}     // call id → output digest
	read := map[string]string{}    // call id → output, as recorded
	err = audit.ReadLog(f, func(e audit.Event) error {
		switch e.Phase {
		case audit.PhaseDecision:
			asked[e.PromptID] = append(asked[e.PromptID], string(e.Args))
		case audit.PhaseOutcome:
			saw[e.CallID], read[e.CallID] = e.OutputDigest, string(e.Output)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s := newStore(corpus)
	for _, turn := range conversation {
		if got := asked[turn.prompt]; strings.Join(got, "\n") != strings.Join(turn.searches, "\n") {
			t.Errorf("%s: log shows searches %q, want %q", turn.prompt, got, turn.searches)
		}
		for i, args := range turn.searches {
			var q query
			if err := json.Unmarshal([]byte(args), &q); err != nil {
				t.Fatal(err)
			}
			call := fmt.Sprintf("%s-call-%d", turn.prompt, i+1)
			if q.Collection == "hr" {
				if _, ok := saw[call]; ok {
					t.Errorf("%s: the denied search ran", call)
				}
				continue
			}
			hits, _ := s.search(context.Background(), q)
			if want, _ := audit.Digest(hits); saw[call] != want {
				t.Errorf("%s: log digest %s is not of what the model saw (%s)", call, saw[call], want)
			}
			if want, _ := json.Marshal(hits); read[call] != string(want) {
				t.Errorf("%s: log shows output %s, the model read %s", call, read[call], want)
			}
		}
	}

	// The CLI rebuilds the same timeline.
	if testing.Short() {
		return
	}
	cli, err := exec.Command("go", "run", "../../cmd/modelguard", "audit", "query", "-session", session, logPath).CombinedOutput()
	if err != nil {
		t.Fatalf("modelguard audit query: %v\n%s", err, cli)
	}
	for _, want := range []string{"prompt-2-call-1", "deny (forbidden)", "no-hr-collection", "7 events"} {
		if !strings.Contains(string(cli), want) {
			t.Errorf("modelguard audit query output lacks %q:\n%s", want, cli)
		}
	}
}
