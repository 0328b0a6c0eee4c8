package fleetpg_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/modelguard/modelguard/audit"
	auditpg "github.com/modelguard/modelguard/audit/postgres"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/tools"
)

// benchPolicy never denies: what is measured is the cost of keeping the
// limit and the budget, not of refusing. The budget's 1s window keeps each
// account at its steady state (a charge sums the account's window).
const benchPolicy = `
rules:
  - id: search
    effect: permit
    tools: [search]
    limit: {rate: 1000000/s, burst: 1000000, per: %s}
    budget: {expr: args.amount_cents, max: 1000000000000, window: 1s, per: %s}
`

// benchCallers is the callers per benchmark (16 per instance's share).
const benchCallers = 16

// latencies collects per-call latencies from parallel callers.
type latencies struct {
	mu  sync.Mutex
	all []time.Duration
}

func (l *latencies) add(d []time.Duration) { l.mu.Lock(); l.all = append(l.all, d...); l.mu.Unlock() }

func (l *latencies) report(b *testing.B, elapsed time.Duration, unit string) {
	slices.Sort(l.all)
	if len(l.all) == 0 {
		return
	}
	q := func(f float64) float64 { return float64(l.all[int(f*float64(len(l.all)-1))].Microseconds()) }
	b.ReportMetric(float64(len(l.all))/elapsed.Seconds(), unit+"/s")
	b.ReportMetric(q(0.5), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
}

// BenchmarkFleetLimits: guarded calls with a rate limit and a budget, kept in
// memory (one process) or in PostgreSQL by 1 or 4 instances (each its own
// pool and enforcer, as separate processes would be), with the principal
// spread over the callers (one row each) or one hot row shared by all (the
// per-tenant limit of a whole fleet). The audit sink discards: see
// BenchmarkFleetAuditSink for its cost.
func BenchmarkFleetLimits(b *testing.B) {
	for _, c := range []struct {
		name  string
		pg    bool
		insts int
		per   string
	}{
		{"memory/spread", false, 1, "subject"},
		{"memory/hot", false, 1, "tenant"},
		{"postgres/1/spread", true, 1, "subject"},
		{"postgres/4/spread", true, 4, "subject"},
		{"postgres/1/hot", true, 1, "tenant"},
		{"postgres/4/hot", true, 4, "tenant"},
	} {
		b.Run(c.name, func(b *testing.B) {
			set := mustPolicy(b, fmt.Sprintf(benchPolicy, c.per, c.per))
			pre := prefix()
			var guards []func(context.Context, spend) (int64, error)
			for range c.insts {
				var store tools.LimitStore
				if c.pg {
					store = limits(b, benchPool(b, benchCallers/c.insts+2), pre, nil)
				}
				enf, err := tools.NewEnforcer(tokenVerifier{}, set, audit.SinkFunc(func(context.Context, audit.Event) error { return nil }),
					tools.Options{LimitStore: store})
				if err != nil {
					b.Fatal(err)
				}
				g, err := tools.Wrap(enf, tools.Tool{Name: "search"}, func(_ context.Context, s spend) (int64, error) { return s.AmountCents, nil })
				if err != nil {
					b.Fatal(err)
				}
				guards = append(guards, g)
			}
			var lat latencies
			var n atomic.Int64
			b.SetParallelism(max(1, benchCallers/max(1, runtime.GOMAXPROCS(0))))
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				i := n.Add(1)
				g := guards[int(i)%len(guards)]
				ctx := identity.WithToken(context.Background(), fmt.Sprint("model:", i))
				var mine []time.Duration
				for pb.Next() {
					t0 := time.Now()
					if _, err := g(ctx, spend{AmountCents: 1}); err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, time.Since(t0))
				}
				lat.add(mine)
			})
			lat.report(b, time.Since(start), "calls")
		})
	}
}

// BenchmarkFleetAuditSink: Record on the PostgreSQL audit sink from 1 or 4
// instances (each its own pool and Sink) writing one stream.
func BenchmarkFleetAuditSink(b *testing.B) {
	for _, insts := range []int{1, 4} {
		b.Run(fmt.Sprint(insts), func(b *testing.B) {
			schema := prefix() + "audit"
			var sinks []*auditpg.Sink
			for range insts {
				s, err := auditpg.New(context.Background(), benchPool(b, benchCallers/insts+2), auditpg.Options{Schema: schema, Stream: "bench"})
				if err != nil {
					b.Fatal(err)
				}
				sinks = append(sinks, s)
			}
			ev := audit.Event{Phase: audit.PhaseDecision, Tool: "search", Decision: "allow", Rules: []string{"search"},
				Identity:   audit.Identity{Issuer: "iss", Subject: "model:1", Agent: "bot", Tenant: "acme"},
				ArgsDigest: "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}
			var lat latencies
			var n, ids atomic.Int64
			b.SetParallelism(max(1, benchCallers/max(1, runtime.GOMAXPROCS(0))))
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				s := sinks[int(n.Add(1))%len(sinks)]
				var mine []time.Duration
				for pb.Next() {
					e := ev
					e.ID = fmt.Sprint("e", ids.Add(1))
					e.Time = time.Now()
					t0 := time.Now()
					if err := s.Record(context.Background(), e); err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, time.Since(t0))
				}
				lat.add(mine)
			})
			lat.report(b, time.Since(start), "records")
		})
	}
}

func benchPool(b *testing.B, conns int) *pgxpool.Pool {
	b.Helper()
	pc, err := pgxpool.ParseConfig(dsn(b))
	if err != nil {
		b.Fatal(err)
	}
	pc.MaxConns = int32(conns)
	p, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(p.Close)
	return p
}
