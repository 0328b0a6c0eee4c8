package fleetpg_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/tools"
	"github.com/modelguard/modelguard/tools/fleetpg"
)

func dsn(t testing.TB) string {
	t.Helper()
	d := os.Getenv("MODELGUARD_TEST_POSTGRES")
	if d == "" {
		t.Skip("set MODELGUARD_TEST_POSTGRES (see .ci/postgres) to run PostgreSQL tests")
	}
	return d
}

func pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	p, err := pgxpool.New(context.Background(), dsn(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func prefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "t" + hex.EncodeToString(b[:]) + "_"
}

func TestKillsLifecycle(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mem := &audit.Memory{}
	k, err := fleetpg.NewKills(ctx, pool(t), fleetpg.KillOptions{Prefix: prefix(), Sink: mem})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Activate(ctx, tools.Kill{Scope: tools.KillAgent}); err == nil {
		t.Fatal("activated a kill with no value and no author")
	}
	bot := &identity.Claims{Subject: "s1", Agent: "bot"}
	a, err := k.Activate(ctx, tools.Kill{Scope: tools.KillAgent, Value: "bot", By: "alice", Reason: "loops"})
	if err != nil || a.ID == "" {
		t.Fatal(a, err)
	}
	if s, err := k.Stopped(ctx, bot, "x"); err != nil || s == nil || s.ID != a.ID || s.By != "alice" {
		t.Fatalf("activating instance does not stop at once: %v %v", s, err)
	}
	if s, _ := k.Stopped(ctx, &identity.Claims{Agent: "other"}, "x"); s != nil {
		t.Fatalf("kill of agent bot stops agent other: %v", s)
	}
	if _, err := k.Lift(ctx, a.ID, ""); err == nil {
		t.Fatal("lift without author")
	}
	if _, err := k.Lift(ctx, a.ID, "bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Lift(ctx, a.ID, "bob"); err == nil {
		t.Fatal("lifted an inactive kill twice")
	}
	if _, err := k.Lift(ctx, "nope", "bob"); err == nil {
		t.Fatal("lifted a non-numeric id")
	}
	if s, err := k.Stopped(ctx, bot, "x"); err != nil || s != nil {
		t.Fatalf("after lift: %v %v", s, err)
	}
	h, err := k.History(ctx, 10)
	if err != nil || len(h) != 1 || h[0].By != "alice" || h[0].LiftedBy != "bob" || h[0].LiftedAt.IsZero() {
		t.Fatalf("history %+v %v", h, err)
	}
	evs := mem.Events()
	if len(evs) != 2 || evs[0].Phase != audit.PhaseKill || evs[0].Code != "kill_activated" || evs[1].Code != "kill_lifted" {
		t.Fatalf("audit events %+v", evs)
	}
}

// Invariant: an activation stops calls on every instance, and a lift lets them
// through again, within the notification latency (measured here, per
// instance), well before the poll fallback would.
func TestKillsReachEveryInstance(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pre := prefix()
	const n = 4
	var inst []*fleetpg.Kills
	for range n {
		k, err := fleetpg.NewKills(ctx, pool(t), fleetpg.KillOptions{Prefix: pre, Poll: 10 * time.Second, MaxStale: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		go k.Run(ctx)
		inst = append(inst, k)
	}
	admin, err := fleetpg.NewKills(ctx, pool(t), fleetpg.KillOptions{Prefix: pre})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // listeners up
	c := &identity.Claims{Subject: "s", Tenant: "acme"}
	wait := func(want bool) []time.Duration {
		start := time.Now()
		lat := make([]time.Duration, n)
		for i, k := range inst {
			for {
				s, err := k.Stopped(ctx, c, "t")
				if err != nil {
					t.Fatal(err)
				}
				if (s != nil) == want {
					lat[i] = time.Since(start)
					break
				}
				if time.Since(start) > 3*time.Second {
					t.Fatalf("instance %d: still %v after 3s (poll is 10s: the notification was lost)", i, !want)
				}
				time.Sleep(200 * time.Microsecond)
			}
		}
		return lat
	}
	kill, err := admin.Activate(ctx, tools.Kill{Scope: tools.KillTenant, Value: "acme", By: "ops"})
	if err != nil {
		t.Fatal(err)
	}
	stop := wait(true)
	if _, err := admin.Lift(ctx, kill.ID, "ops"); err != nil {
		t.Fatal(err)
	}
	lift := wait(false)
	sort.Slice(stop, func(i, j int) bool { return stop[i] < stop[j] })
	t.Logf("kill switch: activation → stopped on all %d instances in %v (per instance, sorted: %v); lift → running again in %v",
		n, stop[n-1], stop, slices.Max(lift))
}

// Invariant: an instance whose view cannot be refreshed for MaxStale denies
// every call; once refreshed it decides again.
func TestKillsStaleFailsClosed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Now()
	clock := func() time.Time { return now }
	k, err := fleetpg.NewKills(ctx, pool(t), fleetpg.KillOptions{Prefix: prefix(), Poll: time.Second, MaxStale: 2 * time.Second, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	if s, err := k.Stopped(ctx, &identity.Claims{}, "t"); s != nil || err != nil {
		t.Fatal(s, err)
	}
	now = now.Add(3 * time.Second)
	if _, err := k.Stopped(ctx, &identity.Claims{}, "t"); err == nil {
		t.Fatal("stale view did not fail closed")
	}
	if err := k.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Stopped(ctx, &identity.Claims{}, "t"); err != nil {
		t.Fatal(err)
	}
	if _, err := fleetpg.NewKills(ctx, pool(t), fleetpg.KillOptions{Prefix: "bad-prefix"}); err == nil {
		t.Fatal("bad prefix accepted")
	}
	if _, err := fleetpg.NewKills(ctx, nil, fleetpg.KillOptions{}); err == nil {
		t.Fatal("nil pool accepted")
	}
	var nilKills *fleetpg.Kills
	if _, err := nilKills.Stopped(ctx, nil, "t"); err == nil {
		t.Fatal("nil Kills did not fail closed")
	}
}
