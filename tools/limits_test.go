package tools_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
)

// The example: spent 1000, a reload lowers max to 800: nothing more
// until the window frees it.
func TestBudgetReloadLowersMaxOnRunningSum(t *testing.T) {
	t.Parallel()
	bs := tools.NewBudgetsForTest()
	k := tools.LimitKey{Rule: "spend", Principal: "subject:iss\x00alice"}
	now := time.Unix(0, 0)
	if !bs.Charge(k, policy.Budget{Max: 1000, Window: time.Hour}, 1000, now) {
		t.Fatal("first charge refused")
	}
	low := policy.Budget{Max: 800, Window: time.Hour}
	if bs.Charge(k, low, 1, now.Add(time.Minute)) {
		t.Fatal("after a reload to max 800 with 1000 spent, a charge of 1 was allowed")
	}
	if !bs.Charge(k, low, 800, now.Add(time.Hour)) {
		t.Fatal("the window freed the old charge, yet 800 was refused")
	}
}

// A reload that changes rate or burst reshapes the bucket: an empty bucket stays
// empty, a full one is capped at the new burst.
func TestLimiterReloadReshapesBucket(t *testing.T) {
	t.Parallel()
	l := tools.NewLimiterForTest()
	k := tools.LimitKey{Rule: "r", Tool: "x", Principal: "p"}
	now := time.Unix(0, 0)
	for range 10 {
		if !l.Take(k, policy.Limit{Rate: 1, Burst: 10}, now) {
			t.Fatal("burst refused")
		}
	}
	if l.Take(k, policy.Limit{Rate: 2, Burst: 20}, now) {
		t.Fatal("a reload to a larger burst refilled the bucket")
	}
	k2 := tools.LimitKey{Rule: "r", Tool: "x", Principal: "q"}
	l.Take(k2, policy.Limit{Rate: 1, Burst: 10}, now) // 9 left
	n := 0
	for l.Take(k2, policy.Limit{Rate: 0.001, Burst: 3}, now) {
		n++
	}
	if n != 3 {
		t.Fatalf("after a reload to burst 3, %d calls were allowed, want 3", n)
	}
}

// Property: over random sequences of reloads and calls, the calls a bucket allows
// from any reload on never exceed what that reload's settings permit
// (burst + rate × elapsed), and a budget's window never holds more than the max
// in force when each charge was allowed.
func TestLimitsPropertyRandomReloads(t *testing.T) {
	t.Parallel()
	for seed := range uint64(300) {
		r := rand.New(rand.NewPCG(seed, 7))
		l := tools.NewLimiterForTest()
		bs := tools.NewBudgetsForTest()
		k := tools.LimitKey{Rule: "r", Tool: "t", Principal: "p"}
		now := time.Unix(1000, 0)
		lim := policy.Limit{Rate: 1 + float64(r.IntN(5)), Burst: 1 + r.IntN(10)}
		since, allowed := now, 0
		const window = time.Minute
		bud := policy.Budget{Max: float64(10 + r.IntN(100)), Window: window}
		type ch struct {
			at     time.Time
			amount float64
		}
		var charges []ch
		for range 400 {
			now = now.Add(time.Duration(r.IntN(700)) * time.Millisecond)
			if r.IntN(20) == 0 {
				lim = policy.Limit{Rate: 0.5 + float64(r.IntN(5)), Burst: 1 + r.IntN(10)}
				since, allowed = now, 0
				bud.Max = float64(10 + r.IntN(100))
			}
			if l.Take(k, lim, now) {
				allowed++
			}
			if bound := float64(lim.Burst) + lim.Rate*now.Sub(since).Seconds(); float64(allowed) > bound+1e-9 {
				t.Fatalf("seed %d: %d calls allowed since the reload, settings %+v permit %.2f", seed, allowed, lim, bound)
			}
			amt := float64(r.IntN(30))
			if bs.Charge(k, bud, amt, now) {
				charges = append(charges, ch{now, amt})
				sum := 0.0
				for _, c := range charges {
					if c.at.Add(window).After(now) {
						sum += c.amount
					}
				}
				if sum > bud.Max {
					t.Fatalf("seed %d: window holds %v, max in force %v", seed, sum, bud.Max)
				}
			}
		}
	}
}
