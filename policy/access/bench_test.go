//go:build unix

package access_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/policy/access"
)

const million = 1_000_000

var (
	bigOnce sync.Once
	bigDir  string
)

// millionLog writes, once per run, a log of a million decisions by 200
// identities of 20 agents over 30 days, 16 tools, a fifth denied. Writing it
// takes minutes on a small machine: MODELGUARD_BENCH_LOG names a directory
// to keep it in and reuse (it is written there if it holds no audit.jsonl).
func millionLog(b *testing.B) string {
	if dir := os.Getenv("MODELGUARD_BENCH_LOG"); dir != "" {
		path := filepath.Join(dir, "audit.jsonl")
		if _, err := os.Stat(path); err == nil {
			return path
		}
		bigDir = dir
	}
	bigOnce.Do(func() {
		if bigDir == "" {
			dir, err := os.MkdirTemp("", "modelguard-access-bench")
			if err != nil {
				b.Fatal(err)
			}
			bigDir = dir
			b.Cleanup(func() { os.RemoveAll(dir) })
		}
		f, err := audit.OpenFile(filepath.Join(bigDir, "audit.jsonl"), audit.FileOptions{Durability: audit.Buffered})
		if err != nil {
			b.Fatal(err)
		}
		at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
		for i := range million {
			agent := fmt.Sprintf("agent-%02d", i%20)
			e := audit.Event{ID: fmt.Sprint(i), Time: at.Add(time.Duration(i) * 2592 * time.Millisecond), Phase: audit.PhaseDecision,
				CallID: fmt.Sprint("call-", i), Tool: fmt.Sprintf("tool.%02d", (i/20)%16), Decision: audit.Allow,
				Rules: []string{"permit-" + agent}, Controls: []string{"NIST-CSF-PR.AA-05", "ASI03"}, PolicyVersion: "sha256:0123",
				SessionID: fmt.Sprint("conv-", i/50), PromptID: fmt.Sprint("turn-", i/5),
				ArgsDigest: "sha256:8e034f9839c999de43636648fb7c92dbe9873333d8626dee5599473a195a8da0",
				Identity: audit.Identity{Issuer: "https://id.example", Subject: fmt.Sprintf("model:%03d", i%200), TokenID: fmt.Sprint("jti-", i/100),
					Agent: agent, Tenant: "acme", ModelProvider: "anthropic", ModelName: "claude", Scopes: []string{"tools:read"}}}
			if i%5 == 0 {
				e.Decision, e.Code, e.Rules = audit.Deny, "no_permit", nil
				e.Reasons = []string{"no rule permits " + e.Tool}
			}
			if err := f.Record(context.Background(), e); err != nil {
				b.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	})
	return filepath.Join(bigDir, "audit.jsonl")
}

func benchPolicy(b *testing.B) *policy.Set {
	var rules []policy.Rule
	for a := range 20 {
		agent := fmt.Sprintf("agent-%02d", a)
		rules = append(rules, policy.Rule{ID: "permit-" + agent, Effect: policy.Permit, Tools: []string{"tool.*"},
			When: fmt.Sprintf("identity.agent == %q && \"tools:read\" in identity.scopes", agent), Controls: []string{"NIST-CSF-PR.AA-05", "ASI03"}})
	}
	rules = append(rules, policy.Rule{ID: "no-delete", Effect: policy.Forbid, Tools: []string{"tool.delete"}})
	set, err := policy.NewSet(rules, policy.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return set
}

// BenchmarkAnalyse1M analyses a 1,000,000-record log (usage, inventory, unused
// entitlements, the report) beside the baseline of verifying the same log.
// Run: go test -run '^$' -bench Analyse1M -benchtime 1x ./policy/access
func BenchmarkAnalyse1M(b *testing.B) {
	path := millionLog(b)
	set := benchPolicy(b)
	log, err := audit.OpenLog(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("baseline-audit-verify", func(b *testing.B) {
		defer cpu(b)()
		for b.Loop() {
			res, err := log.Verify(audit.VerifyOptions{})
			if err != nil || res.Records != million {
				b.Fatal(res, err)
			}
		}
	})
	b.Run("usage", func(b *testing.B) {
		defer cpu(b)()
		for b.Loop() {
			if u, err := access.ReadUsage(log, time.Time{}, time.Time{}); err != nil || u.Decisions() != million {
				b.Fatal(err)
			}
		}
	})
	b.Run("report", func(b *testing.B) {
		defer cpu(b)()
		for b.Loop() {
			u, err := access.ReadUsage(log, time.Time{}, time.Time{})
			if err != nil {
				b.Fatal(err)
			}
			r, err := access.BuildReport(context.Background(), set, u, access.ReportOptions{Now: time.Now()})
			if err != nil || len(r.Identities) != 200 {
				b.Fatal(err)
			}
			if err := r.WriteHTML(discard{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// cpu reports the process's CPU time (user and system) per op: on a shared
// machine it is steadier than the wall time.
func cpu(b *testing.B) func() {
	var start syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &start)
	return func() {
		var end syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &end)
		used := time.Duration(end.Utime.Nano()-start.Utime.Nano()) + time.Duration(end.Stime.Nano()-start.Stime.Nano())
		b.ReportMetric(used.Seconds()/float64(b.N), "cpu-s/op")
	}
}
