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

func TestMCP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var out bytes.Buffer
	if err := run(&out, dir); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, r := range []string{
		`MCP server on http://127\.0\.0\.1:\d+/mcp\n`,
		`support-bot sees: tickets.get\n`,
		`tickets.get \{"id":"T-1001"\} -> ok +\{"id":"T-1001",.*"email":"\[REDACTED\]"`,
		`attachments.export \{"id":"T-1001"\} -> JSON-RPC error -32602: unknown tool "attachments.export"\n`,
		`coding-assistant sees: repo.read\n`,
		`repo.read \{"path":"src/main.go"\} -> ok +"package main // src/main.go"`,
		`tickets.get \{"id":"T-1001"\} -> JSON-RPC error -32602: unknown tool "tickets.get"\n`,
		`without a token:\n  connect: refused \(401 Unauthorized\)\n`,
		`  401, WWW-Authenticate: Bearer resource_metadata="http://127\.0\.0\.1:\d+/\.well-known/oauth-protected-resource/mcp"\n`,
		`/\.well-known/oauth-protected-resource/mcp: \{"resource":"http://127\.0\.0\.1:\d+/mcp","authorization_servers":\["https://identity\.mcp\.example"\],"bearer_methods_supported":\["header"\]\}\n`,
	} {
		if !regexp.MustCompile(r).MatchString(got) {
			t.Errorf("output lacks %q:\n%s", r, got)
		}
	}
	if strings.Contains(got, "@customer.example") || strings.Contains(got, "no-attachment-export") {
		t.Errorf("the model was told more than it may:\n%s", got)
	}
	f, err := os.Open(filepath.Join(dir, logName))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	subjects := map[string]int{}
	err = audit.ReadLog(f, func(e audit.Event) error {
		if e.Phase == audit.PhaseDecision {
			subjects[e.Identity.Subject+" "+e.Tool+" "+e.Decision]++
			if e.SessionID == "" {
				t.Errorf("decision %d has no MCP session", e.Seq)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		"model:support-bot tickets.get allow": 1, "model:support-bot attachments.export deny": 1,
		"model:coding-assistant repo.read allow": 1, "model:coding-assistant tickets.get deny": 1,
	}
	if len(subjects) != len(want) {
		t.Errorf("decisions %v, want %v", subjects, want)
	}
	for k, n := range want {
		if subjects[k] != n {
			t.Errorf("decisions %v, want %v", subjects, want)
			break
		}
	}
}
