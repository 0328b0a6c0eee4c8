package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPolicyBundleCommands(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	pol := filepath.Join(dir, "tickets.yaml")
	if err := os.WriteFile(pol, []byte("rules:\n  - id: read\n    effect: permit\n    tools: [tickets.get]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("rules:\n  - id: x\n    effect: maybe\n"), 0o644)
	out := filepath.Join(dir, "b.json")
	for _, prefix := range []string{"a", "b"} {
		if code, _, errOut := runCLI(t, "audit", "keygen", "-name", "policy.example/"+prefix, "-out", filepath.Join(dir, prefix)); code != exitOK {
			t.Fatalf("keygen: %s", errOut)
		}
	}
	if code, _, _ := runCLI(t, "policy", "bundle", "build", "-o", out, pol); code != exitUsage {
		t.Fatal("build without -version accepted")
	}
	if code, _, errOut := runCLI(t, "policy", "bundle", "build", "-version", "2", "-o", out, bad); code != exitFail || !strings.Contains(errOut, "effect") {
		t.Fatalf("build of a bad policy: %d %s", code, errOut)
	}
	code, stdout, errOut := runCLI(t, "policy", "bundle", "build", "-version", "2", "-o", out, pol)
	if code != exitOK || !strings.Contains(stdout, "version 2") {
		t.Fatalf("build: %d %s%s", code, stdout, errOut)
	}
	if code, _, errOut := runCLI(t, "policy", "bundle", "verify", "-key", filepath.Join(dir, "a.pub"), out); code != exitFail || !strings.Contains(errOut, "not signed") {
		t.Fatalf("verify unsigned: %d %s", code, errOut)
	}
	if code, stdout, errOut := runCLI(t, "policy", "bundle", "sign", "-key", filepath.Join(dir, "a.key"), out); code != exitOK || !strings.Contains(stdout, "policy.example/a") {
		t.Fatalf("sign: %d %s%s", code, stdout, errOut)
	}
	code, stdout, errOut = runCLI(t, "policy", "bundle", "verify", "-key", filepath.Join(dir, "a.pub"), out)
	if code != exitOK || !strings.Contains(stdout, "bundle-2") || !strings.Contains(stdout, "tickets.yaml") {
		t.Fatalf("verify: %d %s%s", code, stdout, errOut)
	}
	if code, _, errOut := runCLI(t, "policy", "bundle", "verify", "-key", filepath.Join(dir, "b.pub"), out); code != exitFail || !strings.Contains(errOut, "bad signature") {
		t.Fatalf("verify with another key: %d %s", code, errOut)
	}
	// A tampered file in the bundle is refused even with the right key.
	data, _ := os.ReadFile(out)
	os.WriteFile(out, []byte(strings.Replace(string(data), `"data": "`, `"data": "IA`, 1)), 0o644)
	if code, _, errOut := runCLI(t, "policy", "bundle", "verify", "-key", filepath.Join(dir, "a.pub"), out); code != exitFail || !strings.Contains(errOut, "malformed") {
		t.Fatalf("verify tampered: %d %s", code, errOut)
	}
}
