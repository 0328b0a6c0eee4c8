package tools

import (
	"reflect"
	"strconv"
	"time"

	"github.com/modelguard/modelguard/policy"
)

// LimiterLenForTest feeds n distinct identities through a limiter bounded at max
// (rate 1000/s, burst 1: a bucket refills 1ms after use), one call every step,
// and returns the number of buckets held at the end.
func LimiterLenForTest(n, max int, step time.Duration) int {
	l := newLimiter(max)
	lim := policy.Limit{Rate: 1000, Burst: 1}
	now := time.Unix(0, 0)
	for i := range n {
		if _, _, ok := l.take(LimitKey{Rule: "r", Tool: "x", Principal: strconv.Itoa(i)}, lim, now); !ok {
			panic("call " + strconv.Itoa(i) + " refused")
		}
		now = now.Add(step)
	}
	return len(l.buckets)
}

// LimiterFullForTest fills a limiter of max buckets that are all still refilling
// and reports whether one more identity is refused.
func LimiterFullForTest(max int) bool {
	l := newLimiter(max)
	lim := policy.Limit{Rate: 1.0 / 3600, Burst: 1}
	now := time.Unix(0, 0)
	for i := range max {
		l.take(LimitKey{Principal: strconv.Itoa(i)}, lim, now)
	}
	_, _, ok := l.take(LimitKey{Principal: "one-more"}, lim, now.Add(2*time.Second))
	return !ok
}

// LimiterForTest is the in-memory limiter, for property tests of reloads.
type LimiterForTest struct{ l *limiter }

func NewLimiterForTest() LimiterForTest { return LimiterForTest{newLimiter(0)} }

func (t LimiterForTest) Take(k LimitKey, lim policy.Limit, now time.Time) bool {
	_, _, ok := t.l.take(k, lim, now)
	return ok
}

// BudgetsForTest is the in-memory budget store, for property tests of reloads.
type BudgetsForTest struct{ b *budgets }

func NewBudgetsForTest() BudgetsForTest { return BudgetsForTest{newBudgets(0)} }

func (t BudgetsForTest) Charge(k LimitKey, b policy.Budget, amount float64, now time.Time) bool {
	_, _, ok := t.b.charge(k, b, amount, now)
	return ok
}

// SnapshotPathForTest is the snapshot path NewGuard decides for input type t.
func SnapshotPathForTest(t reflect.Type) string { return argsPathOf(t).path.String() }

// WithoutFlatJSON makes g digest its arguments and output through
// encoding/json, as before per-type encoders: the baseline of
// BenchmarkGuardAllow's digest.
func WithoutFlatJSON[In, Out any](g *Guard[In, Out]) { g.flatIn, g.flatOut = nil, nil }
