package mcpconformance_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/tools"
)

// TestNodeClients runs node/conformance.mjs (the official TypeScript SDK
// client and the MCP Inspector CLI) against both adapters, then checks that
// their audit logs hold every attempt.
func TestNodeClients(t *testing.T) {
	node, err := exec.LookPath("node")
	modules := filepath.Join("node", "node_modules", "@modelcontextprotocol", "sdk")
	if _, serr := os.Stat(modules); err != nil || serr != nil {
		msg := "node or node/node_modules missing: run `npm ci` in internal/mcpconformance/node (.ci/node does) to run the TypeScript SDK and MCP Inspector tests"
		if os.Getenv("MODELGUARD_TEST_NODE") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	targets := serve(t)
	config, _ := json.Marshal(targets)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "conformance.mjs")
	cmd.Dir = "node"
	cmd.Env = append(os.Environ(), "MODELGUARD_CONFORMANCE="+string(config))
	out, err := cmd.CombinedOutput()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.HasPrefix(line, "not ok") {
			t.Error(line)
		} else {
			t.Log(line)
		}
	}
	if err != nil {
		t.Fatalf("node conformance.mjs: %v", err)
	}
	if !strings.Contains(string(out), "all rows passed") {
		t.Fatal("the script did not finish")
	}
	for _, tg := range targets {
		codes := tg.codes()
		for code, min := range map[string]int{string(tools.CodeUnknownTool): 2, string(tools.CodeSessionMismatch): 1,
			string(tools.CodeInsufficientScope): 2, string(tools.CodeForbidden): 2, string(tools.CodeApprovalRequired): 2, "": 4} {
			if codes[code] < min {
				t.Errorf("%s: %d decisions with code %q recorded, want at least %d (all: %v)", tg.Name, codes[code], code, min, codes)
			}
		}
	}
}
