package fleetpg_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
	"github.com/modelguard/modelguard/tools/fleetpg"
)

func limits(t testing.TB, p *pgxpool.Pool, prefix string, now func() time.Time) *fleetpg.Limits {
	t.Helper()
	l, err := fleetpg.NewLimits(context.Background(), p, fleetpg.LimitOptions{Prefix: prefix, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// tokenVerifier takes the token for the subject: enough to tell callers apart.
type tokenVerifier struct{}

func (tokenVerifier) Verify(_ context.Context, tok string) (*identity.Claims, error) {
	return &identity.Claims{Issuer: "iss", Subject: tok, Agent: "bot", Tenant: "acme"}, nil
}

type spend struct {
	AmountCents int64 `json:"amount_cents"`
}

func limitPolicy(t testing.TB, rate string, burst int, max int, window time.Duration) *policy.Set {
	t.Helper()
	src := fmt.Sprintf(`
rules:
  - id: pay
    effect: permit
    tools: [pay, refund]
    limit: {rate: %s, burst: %d, per: subject}
    budget: {expr: args.amount_cents, max: %d, window: %s, per: agent}
`, rate, burst, max, window)
	rules, err := policy.Parse("limits.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	set, err := policy.NewSet(rules, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func payGuard(t testing.TB, set *policy.Set, store tools.LimitStore, now func() time.Time) (*tools.Enforcer, map[string]func(context.Context, spend) (int64, error)) {
	t.Helper()
	enf, err := tools.NewEnforcer(tokenVerifier{}, set, &audit.Memory{}, tools.Options{Now: now, LimitStore: store})
	if err != nil {
		t.Fatal(err)
	}
	gs := map[string]func(context.Context, spend) (int64, error){}
	for _, name := range []string{"pay", "refund"} {
		g, err := tools.Wrap(enf, tools.Tool{Name: name}, func(_ context.Context, s spend) (int64, error) { return s.AmountCents, nil })
		if err != nil {
			t.Fatal(err)
		}
		gs[name] = g
	}
	return enf, gs
}

func deniedCode(err error) (string, time.Duration) {
	var de *tools.DeniedError
	if errors.As(err, &de) {
		return string(de.Code), de.RetryAfter
	}
	if err != nil {
		return "error: " + err.Error(), 0
	}
	return "ok", 0
}

// Property: a guard on the PostgreSQL store decides every call exactly as a
// guard on the in-memory default does — same allowed calls, same codes, same
// retry (to the millisecond) — over random call sequences, clock steps,
// restarts (a new store and enforcer on the same tables), and either policy
// reloads that change rate, burst, max and window (even seeds) or sweeps (odd
// seeds). Clock steps are 1/8 s and rates powers of two per second, so the
// in-memory limiter's float arithmetic is exact and the two can be compared
// to the call. Sweeps and reloads are not mixed: a swept full bucket (or
// account) starts afresh under a later burst (or window), as one the in-memory
// store drops when full does.
func TestLimitsMatchMemory(t *testing.T) {
	t.Parallel()
	p := pool(t)
	for seed := range uint64(6) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(seed, 15))
			now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
			var mu sync.Mutex
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			pre := prefix()
			pg := limits(t, p, pre, clock)
			settings := func() *policy.Set {
				if seed == 0 { // the example
					return limitPolicy(t, "10/h", 10, 500000, 24*time.Hour) // 10 payments an hour, 5,000.00 a day
				}
				return limitPolicy(t, fmt.Sprintf("%d/s", 1<<rng.IntN(4)), 1+rng.IntN(5), 50+rng.IntN(100),
					time.Duration(1+rng.IntN(16))*time.Second/2)
			}
			set := settings()
			mEnf, mem := payGuard(t, set, nil, clock)
			pEnf, pgs := payGuard(t, set, pg, clock)
			ctx := context.Background()
			allowed := 0
			for i := range 300 {
				switch r := rng.IntN(100); {
				case r < 5 && seed%2 == 0:
					set = settings()
					if err := errors.Join(mEnf.SetPolicy(ctx, set), pEnf.SetPolicy(ctx, set)); err != nil {
						t.Fatal(err)
					}
				case r < 8 && seed%2 == 1:
					if err := pg.Sweep(ctx); err != nil {
						t.Fatal(err)
					}
				case r < 10: // restart: a new store and enforcer on the same tables
					pg = limits(t, p, pre, clock)
					pEnf, pgs = payGuard(t, set, pg, clock)
				}
				mu.Lock()
				now = now.Add(time.Duration(rng.IntN(8)) * time.Second / 8)
				mu.Unlock()
				tool := []string{"pay", "refund"}[rng.IntN(2)]
				sub := fmt.Sprint("model:", rng.IntN(3))
				who := identity.WithToken(ctx, sub)
				in := spend{AmountCents: int64(rng.IntN(40))}
				_, errM := mem[tool](who, in)
				_, errP := pgs[tool](who, in)
				cm, rm := deniedCode(errM)
				cp, rp := deniedCode(errP)
				if testing.Verbose() {
					t.Logf("call %d t=%v %s by %s amt %d: mem %s %v pg %s %v", i, now.Format("05.000"), tool, sub, in.AmountCents, cm, rm, cp, rp)
				}
				if cm != cp || (rm-rp).Abs() > time.Millisecond {
					t.Fatalf("call %d (%s by %v, %d): memory %s (retry %v), postgres %s (retry %v)", i, tool, sub, in.AmountCents, cm, rm, cp, rp)
				}
				if cm == "ok" {
					allowed++
				}
			}
			if allowed == 0 || allowed == 300 {
				t.Fatalf("%d of 300 allowed: the sequence tests nothing", allowed)
			}
		})
	}
}

// Invariant: two instances (two pools) hammered by many goroutines at once
// allow exactly what one bucket holds and charge exactly up to the budget:
// every denied charge would indeed have exceeded it.
func TestLimitsExactAcrossInstances(t *testing.T) {
	t.Parallel()
	pre := prefix()
	insts := []*fleetpg.Limits{limits(t, pool(t), pre, nil), limits(t, pool(t), pre, nil)}
	ctx := context.Background()
	const burst, budget = 150, 400
	lim := policy.Limit{Rate: 1.0 / 3600, Burst: burst}
	b := policy.Budget{Max: budget, Window: time.Hour}
	key := tools.LimitKey{Rule: "r", Tool: "t", Principal: "subject:iss\x00s"}
	acct := tools.LimitKey{Rule: "r", Principal: "agent:iss\x00a"}
	var taken, charged atomic.Int64
	var mu sync.Mutex
	var denied []float64
	var wg sync.WaitGroup
	for g := range 32 {
		wg.Go(func() {
			l := insts[g%2]
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for range 12 {
				undo, _, err := l.Take(ctx, key, lim, time.Now())
				if err != nil {
					t.Error(err)
					return
				}
				if undo != nil {
					taken.Add(1)
				}
				amt := float64(1 + rng.IntN(5))
				undo, retry, err := l.Charge(ctx, acct, b, amt, time.Now())
				switch {
				case err != nil:
					t.Error(err)
					return
				case undo != nil:
					charged.Add(int64(amt))
				default:
					if retry <= 0 || retry > time.Hour {
						t.Errorf("budget denial retry %v", retry)
					}
					mu.Lock()
					denied = append(denied, amt)
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if taken.Load() != burst {
		t.Fatalf("%d tokens taken from a bucket of %d", taken.Load(), burst)
	}
	if c := charged.Load(); c > budget {
		t.Fatalf("charged %d over a budget of %d", c, budget)
	}
	for _, a := range denied {
		if float64(charged.Load())+a <= budget {
			t.Fatalf("a charge of %v was denied with %d of %d charged", a, charged.Load(), budget)
		}
	}
	t.Logf("32 goroutines on 2 instances: %d tokens of %d, %d of %d charged, %d charges denied", taken.Load(), burst, charged.Load(), budget, len(denied))
}

// Invariant: undo gives back exactly what was taken: a token, a charge.
func TestLimitsUndo(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l := limits(t, pool(t), prefix(), nil)
	now := time.Now()
	key := tools.LimitKey{Rule: "r", Tool: "t", Principal: "p"}
	lim := policy.Limit{Rate: 1.0 / 3600, Burst: 2}
	u1, _, _ := l.Take(ctx, key, lim, now)
	u2, _, _ := l.Take(ctx, key, lim, now)
	if u3, retry, err := l.Take(ctx, key, lim, now); u1 == nil || u2 == nil || u3 != nil || err != nil || retry != time.Hour {
		t.Fatalf("burst 2: %v %v %v, retry %v, %v", u1 != nil, u2 != nil, u3 != nil, retry, err)
	}
	u2()
	if u, _, _ := l.Take(ctx, key, lim, now); u == nil {
		t.Fatal("the token given back cannot be taken again")
	}
	b := policy.Budget{Max: 10, Window: time.Hour}
	c1, _, _ := l.Charge(ctx, key, b, 6, now)
	if c, retry, _ := l.Charge(ctx, key, b, 6, now.Add(time.Minute)); c1 == nil || c != nil || retry != 59*time.Minute {
		t.Fatalf("budget: %v %v, retry %v", c1 != nil, c != nil, retry)
	}
	c1()
	if c, _, _ := l.Charge(ctx, key, b, 10, now); c == nil {
		t.Fatal("the refunded amount cannot be charged again")
	}
	if c, retry, err := l.Charge(ctx, key, b, 11, now); c != nil || retry != 0 || err != nil {
		t.Fatal("more than the whole budget must never fit (retry 0)")
	}
	// Settings the store cannot represent deny; they never wrap around.
	for _, lim := range []policy.Limit{{Rate: 1e-12, Burst: 1}, {Rate: 1e-300}, {Rate: 1e-9, Burst: 100}} {
		if u, _, err := l.Take(ctx, tools.LimitKey{Rule: "odd", Principal: fmt.Sprint(lim)}, lim, now); u != nil || err == nil {
			t.Fatalf("limit %+v: taken (err %v)", lim, err)
		}
	}
}

// Invariant: a store that cannot be reached denies the call with
// limits_unavailable, and the tool does not run; so does a nil or zero store.
func TestLimitsStoreDownDenies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dead, err := pgxpool.New(ctx, "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=1")
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	if _, err := fleetpg.NewLimits(ctx, dead, fleetpg.LimitOptions{}); err == nil {
		t.Fatal("NewLimits on a dead database succeeded")
	}
	l := limits(t, pool(t), prefix(), nil)
	set := limitPolicy(t, "10/s", 5, 100, time.Hour)
	for name, store := range map[string]tools.LimitStore{"nil": (*fleetpg.Limits)(nil), "zero": &fleetpg.Limits{}} {
		if u, _, err := store.Take(ctx, tools.LimitKey{}, policy.Limit{Rate: 1}, time.Now()); u != nil || err == nil {
			t.Fatalf("%s store Take: %v", name, err)
		}
		if u, _, err := store.Charge(ctx, tools.LimitKey{}, policy.Budget{Max: 1, Window: 1}, 1, time.Now()); u != nil || err == nil {
			t.Fatalf("%s store Charge: %v", name, err)
		}
	}
	_, gs := payGuard(t, set, l, time.Now)
	who := identity.WithToken(ctx, "model:1")
	if _, err := gs["pay"](who, spend{AmountCents: 1}); err != nil {
		t.Fatal(err)
	}
	p2 := pool(t)
	l2 := limits(t, p2, prefix(), nil)
	_, gs2 := payGuard(t, set, l2, time.Now)
	p2.Close() // the store goes away under a running enforcer
	_, err = gs2["pay"](who, spend{AmountCents: 1})
	var de *tools.DeniedError
	if !errors.As(err, &de) || de.Code != tools.CodeLimitsUnavailable || !errors.Is(err, tools.ErrLimitsUnavailable) {
		t.Fatalf("store down: %v", err)
	}
	if err := l2.Sweep(ctx); err == nil {
		t.Fatal("sweep on a closed pool succeeded")
	}
}

// Invariant: the tables hold only what still limits someone: a sweep deletes
// refilled buckets and charges out of their window, and nothing else.
func TestLimitsSweepBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	p := pool(t)
	pre := prefix()
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	l := limits(t, p, pre, clock)
	lim := policy.Limit{Rate: 100, Burst: 1} // refills 10ms after use
	b := policy.Budget{Max: 5, Window: time.Second}
	for i := range 200 {
		k := tools.LimitKey{Rule: "r", Tool: "t", Principal: fmt.Sprint("p", i)}
		if u, _, err := l.Take(ctx, k, lim, now); u == nil || err != nil {
			t.Fatal(err)
		}
		if u, _, err := l.Charge(ctx, k, b, 1, now); u == nil || err != nil {
			t.Fatal(err)
		}
	}
	live := tools.LimitKey{Rule: "r", Tool: "t", Principal: "live"}
	count := func() (n int) {
		q := fmt.Sprintf(`SELECT (SELECT count(*) FROM %[1]sbuckets) + (SELECT count(*) FROM %[1]scharges) + (SELECT count(*) FROM %[1]saccounts)`, pre)
		if err := p.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 600 {
		t.Fatalf("%d rows, want 600", n)
	}
	mu.Lock()
	now = now.Add(2 * time.Second)
	mu.Unlock()
	l.Take(ctx, live, policy.Limit{Rate: 1.0 / 3600, Burst: 1}, now)
	l.Charge(ctx, live, b, 5, now)
	if err := l.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 3 {
		t.Fatalf("%d rows after the sweep, want the 3 live ones (bucket, charge, account)", n)
	}
	if u, _, _ := l.Charge(ctx, live, b, 1, now); u != nil {
		t.Fatal("the sweep dropped a charge still in its window")
	}
	if u, _, _ := l.Take(ctx, live, policy.Limit{Rate: 1.0 / 3600, Burst: 1}, now); u != nil {
		t.Fatal("the sweep dropped a refilling bucket")
	}
}

// Invariant: an account's running total is the sum of its charges, whatever
// interleaving of charges, refunds and sweeps two instances make of it; and
// it equals what the callers kept.
func TestLimitsTotalUnderRefunds(t *testing.T) {
	t.Parallel()
	pre := prefix()
	p := pool(t)
	insts := []*fleetpg.Limits{limits(t, p, pre, nil), limits(t, pool(t), pre, nil)}
	ctx := context.Background()
	b := policy.Budget{Max: 1e9, Window: time.Hour}
	acct := tools.LimitKey{Rule: "r", Principal: "tenant:iss\x00acme"}
	var kept atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			l := insts[g%2]
			rng := rand.New(rand.NewPCG(uint64(g), 2))
			for range 25 {
				amt := 1 + rng.Int64N(100)
				undo, _, err := l.Charge(ctx, acct, b, float64(amt), time.Now())
				if err != nil || undo == nil {
					t.Error("charge", err)
					return
				}
				if rng.IntN(2) == 0 {
					undo()
				} else {
					kept.Add(amt)
				}
				if rng.IntN(10) == 0 {
					if err := l.Sweep(ctx); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	var total, sum float64
	q := fmt.Sprintf(`SELECT (SELECT total FROM %[1]saccounts), (SELECT sum(amount) FROM %[1]scharges)`, pre)
	if err := p.QueryRow(ctx, q).Scan(&total, &sum); err != nil {
		t.Fatal(err)
	}
	if total != sum || int64(sum) != kept.Load() {
		t.Fatalf("running total %v, charges sum to %v, callers kept %d", total, sum, kept.Load())
	}
}
