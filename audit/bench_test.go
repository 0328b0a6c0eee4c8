package audit_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/modelguard/modelguard/audit"
	"golang.org/x/mod/sumdb/tlog"
)

// benchEvent is an event the size a guard records: about 600 bytes.
func benchEvent() audit.Event {
	e := numbered(1)
	e.CallID, e.SessionID, e.PromptID, e.TraceID = "call_8f3a9c", "conv-2291", "turn-14", "4bf92f3577b34da6a3ce929d0e0e4736"
	e.Identity = audit.Identity{Issuer: "https://id.example.com", Subject: "model:support-bot", TokenID: "jti-0192",
		Agent: "support-bot", Tenant: "acme", Env: "prod", ModelProvider: "openai", ModelName: "gpt-x", ModelVersion: "2026-10",
		Scopes: []string{"tickets:read", "tickets:write"}}
	e.Controls = []string{"NIST-CSF-PR.AA-05", "OWASP-AGENTIC-T3"}
	e.ArgsDigest = audit.DigestBytes([]byte("args"))
	e.OutputDigest = audit.DigestBytes([]byte("out"))
	e.PolicyVersion = "sha256:1f2e"
	return e
}

// perCaller runs fn b.N times split over callers goroutines and reports
// events/s.
func perCaller(b *testing.B, callers int, fn func()) {
	b.ResetTimer()
	var wg sync.WaitGroup
	start := time.Now()
	for g := range callers {
		n := b.N / callers
		if g < b.N%callers {
			n++
		}
		wg.Go(func() {
			for range n {
				fn()
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkFileRecord measures each durability mode against raw baselines
// on the same disk in the same run: write(2) of an encoded line per event
// under a mutex (baseline for Buffered: the work a log cannot avoid is less),
// write(2)+fsync per event (baseline for SyncEach and GroupCommit).
func BenchmarkFileRecord(b *testing.B) {
	e := benchEvent()
	line, _ := json.Marshal(e)
	line = append(line, '\n')
	for _, callers := range []int{1, 16, 64} {
		for _, mode := range []audit.Durability{audit.Buffered, audit.GroupCommit, audit.SyncEach} {
			b.Run(fmt.Sprintf("%v/callers=%d", mode, callers), func(b *testing.B) {
				f, err := audit.OpenFile(filepath.Join(b.TempDir(), "audit.jsonl"), audit.FileOptions{Durability: mode})
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				perCaller(b, callers, func() {
					if err := f.Record(context.Background(), e); err != nil {
						b.Error(err)
					}
				})
			})
		}
		b.Run(fmt.Sprintf("baseline-write/callers=%d", callers), func(b *testing.B) {
			raw := rawFile(b)
			var mu sync.Mutex
			perCaller(b, callers, func() {
				mu.Lock()
				raw.Write(line)
				mu.Unlock()
			})
		})
		b.Run(fmt.Sprintf("baseline-bufio/callers=%d", callers), func(b *testing.B) {
			raw := rawFile(b)
			w := bufio.NewWriterSize(raw, 256<<10)
			var mu sync.Mutex
			perCaller(b, callers, func() {
				mu.Lock()
				w.Write(line)
				mu.Unlock()
			})
			w.Flush()
		})
		b.Run(fmt.Sprintf("baseline-fsync/callers=%d", callers), func(b *testing.B) {
			raw := rawFile(b)
			var mu sync.Mutex
			perCaller(b, callers, func() {
				mu.Lock()
				raw.Write(line)
				raw.Sync()
				mu.Unlock()
			})
		})
	}
}

func rawFile(b *testing.B) *os.File {
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "raw.jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	return f
}

const bigLog = 1_000_000

var (
	bigOnce sync.Once
	bigPath string
	bigDir  string
)

// millionRecords writes a 1,000,000-record log once per test binary run.
func millionRecords(b *testing.B) string {
	if testing.Short() {
		b.Skip("the 1,000,000-record log takes seconds to write; skipped with -short")
	}
	bigOnce.Do(func() {
		bigDir, _ = os.MkdirTemp("", "audit-bench")
		bigPath = filepath.Join(bigDir, "audit.jsonl")
		signer, _ := keys(b, "example.com/bench")
		f, err := audit.OpenFile(bigPath, audit.FileOptions{Durability: audit.Buffered, Signer: signer, CheckpointEvery: bigLog / 2})
		if err != nil {
			b.Fatal(err)
		}
		e := benchEvent()
		for range bigLog {
			if err := f.Record(context.Background(), e); err != nil {
				b.Fatal(err)
			}
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	})
	return bigPath
}

// BenchmarkVerify1M verifies a 1,000,000-record log; the baseline reads the
// same bytes and hashes them with SHA-256 once, the least any verifier does.
func BenchmarkVerify1M(b *testing.B) {
	path := millionRecords(b)
	b.Run("verify", func(b *testing.B) {
		l, _ := audit.OpenLog(path)
		for b.Loop() {
			res, err := l.Verify(audit.VerifyOptions{})
			if err != nil || res.Records != bigLog {
				b.Fatal(res, err)
			}
		}
		b.ReportMetric(float64(bigLog)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("baseline-read-sha256", func(b *testing.B) {
		for b.Loop() {
			f, _ := os.Open(path)
			h := sha256.New()
			io.Copy(h, f)
			f.Close()
		}
	})
	b.Run("open", func(b *testing.B) {
		for b.Loop() { // reopening re-hashes only what follows the last checkpoint
			f, err := audit.OpenFile(path, audit.FileOptions{Durability: audit.Buffered})
			if err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
}

// BenchmarkProofSize reports the size of proofs against a 1,000,000-record
// log: an inclusion proof (record, audit path, checkpoint) and a consistency
// proof between checkpoints at 500,000 and 1,000,000 records.
func BenchmarkProofSize(b *testing.B) {
	path := millionRecords(b)
	l, _ := audit.OpenLog(path)
	var size, hashes int
	for b.Loop() {
		p, err := l.Prove(bigLog / 3)
		if err != nil {
			b.Fatal(err)
		}
		j, _ := json.Marshal(p)
		size, hashes = len(j), len(p.Proof)
	}
	b.ReportMetric(float64(size), "inclusion-bytes")
	b.ReportMetric(float64(hashes), "inclusion-hashes")
	cp, _ := l.Checkpoint()
	c, _ := audit.UnsafeParseSignedCheckpoint(cp)
	signer, _ := keys(b, c.Origin)
	old := audit.Checkpoint{Origin: c.Origin, Size: bigLog / 2}
	old.Hash = rootAt(b, path, old.Size)
	oldSigned, _ := audit.SignCheckpoint(old, signer)
	cons, err := l.ProveConsistency(oldSigned, cp)
	if err != nil {
		b.Fatal(err)
	}
	j, _ := json.Marshal(cons)
	b.ReportMetric(float64(len(j)), "consistency-bytes")
	b.ReportMetric(float64(len(cons.Proof)), "consistency-hashes")
}

func rootAt(b *testing.B, path string, n int64) tlog.Hash {
	h, err := audit.TreeHashAt(path, n)
	if err != nil {
		b.Fatal(err)
	}
	return h
}

// BenchmarkMemoryRecord records a guard-sized event into Memory and, as the
// baseline in the same run, into a sink that discards it: "serial" one
// caller, "parallel" 64 goroutines, with the p50 and p99 latency of a
// Record. Targets: Memory ≤ 2× discard a call, p99 within 10× p50.
func BenchmarkMemoryRecord(b *testing.B) {
	discard := audit.SinkFunc(func(context.Context, audit.Event) error { return nil })
	ctx := context.Background()
	for _, sc := range []struct {
		name string
		sink func() audit.Sink
	}{{"memory", func() audit.Sink { return &audit.Memory{} }}, {"discard", func() audit.Sink { return discard }}} {
		b.Run(sc.name+"/serial", func(b *testing.B) {
			s, e := sc.sink(), benchEvent()
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Record(ctx, e); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(sc.name+"/parallel64", func(b *testing.B) {
			s, e := sc.sink(), benchEvent()
			var mu sync.Mutex
			var lat []time.Duration
			b.SetParallelism(32) // 64 goroutines on 2 CPUs
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				var mine []time.Duration
				for pb.Next() {
					t := time.Now()
					if err := s.Record(ctx, e); err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, time.Since(t))
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			})
			slices.Sort(lat)
			if len(lat) > 0 {
				b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
				b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
			}
		})
	}
}
