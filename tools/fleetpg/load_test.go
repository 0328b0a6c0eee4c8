package fleetpg_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/modelguard/modelguard/audit"
	auditpg "github.com/modelguard/modelguard/audit/postgres"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
	"github.com/modelguard/modelguard/tools/fleetpg"
)

// The fleet load test: loadProcs processes × loadCallers callers for loadRun,
// against a private PostgreSQL cluster that the test stops (immediate
// shutdown: a crash) and starts again mid-run. Phases, from the start:
const (
	loadProcs     = 4
	loadCallers   = 16
	loadRun       = 12 * time.Second
	loadKillAt    = 3 * time.Second // KillAll activated…
	loadLiftAt    = 5 * time.Second // …and lifted
	loadDownAt    = 7 * time.Second // PostgreSQL stopped…
	loadDownFor   = 1500 * time.Millisecond
	loadKillBound = 3 * time.Second // notification, or the 200ms poll, under full load
	loadBurst     = 200             // the shared rate limit: 200 searches per day per tenant
	loadBudget    = 1000            // the shared budget: 1000 cents per day per agent (drained in about a second)
)

const loadPolicy = `
rules:
  - id: read
    effect: permit
    tools: [read]
  - id: search
    effect: permit
    tools: [search]
    limit: {rate: 1/d, burst: 200, per: tenant}
  - id: pay
    effect: permit
    tools: [pay]
    budget: {expr: args.amount_cents, max: 1000, window: 24h, per: agent}
`

var loadTools = []string{"read", "search", "pay"}

type loadIn struct {
	ID          string `json:"id"`
	AmountCents int64  `json:"amount_cents"`
}

// loadConfig is what the parent hands each worker process.
type loadConfig struct {
	Index    int       `json:"index"`
	DSN      string    `json:"dsn"`
	Prefix   string    `json:"prefix"`
	Schema   string    `json:"schema"`
	Start    time.Time `json:"start"`
	Out      string    `json:"out"`
	Duration time.Duration
}

// loadCall is one call as a worker saw it: start and end (ns after Start),
// tool index, outcome code ("ok" or a denial code), amount, id.
type loadCall struct {
	S, E   int64
	T      int
	Code   string
	Amount int64
	ID     string
}

// TestFleetLoadWorker is one instance of the fleet: run by TestFleetLoad in a
// child process, skipped otherwise.
func TestFleetLoadWorker(t *testing.T) {
	raw := os.Getenv("MODELGUARD_FLEET_WORKER")
	if raw == "" {
		t.Skip("a worker of TestFleetLoad, run by it in a child process")
	}
	var cfg loadConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pc, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	pc.MaxConns = loadCallers + 4
	p, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		t.Fatal(err)
	}
	// Stop Run (which holds the listening connection) before closing the pool,
	// which waits for every connection to come back.
	defer func() { cancel(); p.Close() }()
	kills, err := fleetpg.NewKills(ctx, p, fleetpg.KillOptions{Prefix: cfg.Prefix, Poll: 200 * time.Millisecond, MaxStale: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	go kills.Run(ctx)
	lim, err := fleetpg.NewLimits(ctx, p, fleetpg.LimitOptions{Prefix: cfg.Prefix, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	sink, err := auditpg.New(ctx, p, auditpg.Options{Schema: cfg.Schema, Stream: "fleet", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	enf, err := tools.NewEnforcer(tokenVerifier{}, mustPolicy(t, loadPolicy), sink,
		tools.Options{Kill: kills, LimitStore: lim, RecordArgs: true, RecordOutput: true})
	if err != nil {
		t.Fatal(err)
	}
	var guards []func(context.Context, loadIn) (string, error)
	for _, name := range loadTools {
		g, err := tools.Wrap(enf, tools.Tool{Name: name}, func(_ context.Context, in loadIn) (string, error) { return in.ID, nil })
		if err != nil {
			t.Fatal(err)
		}
		guards = append(guards, g)
	}
	time.Sleep(time.Until(cfg.Start))
	end := cfg.Start.Add(cfg.Duration)
	calls := make([][]loadCall, loadCallers+1)
	var wg sync.WaitGroup
	// The probe asks the kill switch every 200µs, as a call would: the first
	// answer that stops is when this instance stopped; the first that lets
	// through after it, when it resumed.
	wg.Go(func() {
		probe := loadCall{S: -1, E: -1, Code: "probe", ID: "probe"}
		c := &identity.Claims{Issuer: "iss", Subject: "probe", Agent: "bot", Tenant: "acme"}
		for time.Now().Before(end) {
			k, err := kills.Stopped(ctx, c, "read")
			now := int64(time.Since(cfg.Start))
			switch {
			case err == nil && k != nil && probe.S < 0:
				probe.S = now
			case err == nil && k == nil && probe.S >= 0 && probe.E < 0:
				probe.E = now
			}
			time.Sleep(200 * time.Microsecond)
		}
		calls[loadCallers] = []loadCall{probe}
	})
	for c := range loadCallers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(cfg.Index), uint64(c)))
			who := identity.WithToken(ctx, fmt.Sprintf("model:%d-%d", cfg.Index, c))
			for n := 0; time.Now().Before(end); n++ {
				tool := []int{0, 0, 0, 1, 2}[rng.IntN(5)]
				in := loadIn{ID: fmt.Sprintf("w%d-c%d-%d", cfg.Index, c, n), AmountCents: 1 + rng.Int64N(9)}
				s := time.Since(cfg.Start)
				out, err := guards[tool](who, in)
				call := loadCall{S: int64(s), E: int64(time.Since(cfg.Start)), T: tool, Code: "ok", Amount: in.AmountCents, ID: in.ID}
				var de *tools.DeniedError
				switch {
				case errors.As(err, &de):
					call.Code = string(de.Code)
				case err != nil:
					call.Code = "error: " + err.Error()
				case out != in.ID:
					call.Code = "wrong output " + out
				}
				calls[c] = append(calls[c], call)
				if strings.HasSuffix(call.Code, "unavailable") || call.Code == string(tools.CodeAuditFailed) {
					time.Sleep(time.Millisecond) // a caller backs off from a fleet that is down
				}
			}
		})
	}
	wg.Wait()
	f, err := os.Create(cfg.Out)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, cs := range calls {
		for _, c := range cs {
			if err := enc.Encode(c); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		t.Fatal(err)
	}
}

func mustPolicy(t testing.TB, src string) *policy.Set {
	t.Helper()
	rules, err := policy.Parse("load.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	set, err := policy.NewSet(rules, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// privateCluster starts a PostgreSQL cluster of the test's own with
// .ci/postgres (the load test stops and starts it: other tests must not share
// it) and returns its DSN and a func that stops (immediately) or starts it.
func privateCluster(t *testing.T) (dsn string, ctl func(cmd string)) {
	t.Helper()
	script, err := filepath.Abs("../../.ci/postgres")
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(script).Output()
	if err != nil {
		t.Skipf("cannot start a private PostgreSQL cluster with .ci/postgres (root and PostgreSQL 15 needed): %v", err)
	}
	env := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "="); ok {
			env[k] = strings.Trim(v, "'")
		}
	}
	dir := env["MODELGUARD_PG_DIR"]
	if dir == "" || env["MODELGUARD_TEST_POSTGRES"] == "" {
		t.Fatalf(".ci/postgres printed %q", out)
	}
	ctl = func(cmd string) {
		c := exec.Command(script, cmd)
		c.Env = append(os.Environ(), "MODELGUARD_PG_DIR="+dir)
		if out, err := c.CombinedOutput(); err != nil {
			t.Errorf(".ci/postgres %s: %v\n%s", cmd, err, out)
		}
	}
	t.Cleanup(func() { ctl("stop"); os.RemoveAll(dir) })
	return env["MODELGUARD_TEST_POSTGRES"], ctl
}

// TestFleetLoad runs the fleet and checks, from what the callers saw and
// what the audit log holds: the shared rate limit allowed exactly its burst
// and the shared budget exactly its max, across all instances (as one
// instance would); the audit stream verifies, with no gap or duplicate in its
// sequence; every acknowledged call is in it (decision and outcome), also
// across the crash; a kill switch stopped every instance (latency measured);
// every call made while PostgreSQL was down was denied.
func TestFleetLoad(t *testing.T) {
	dsn(t) // skips without PostgreSQL
	if testing.Short() {
		t.Skip("the fleet load test runs for about 20s; not with -short")
	}
	priv, ctl := privateCluster(t)
	ctx := context.Background()
	p, err := pgxpool.New(ctx, priv)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	pre := prefix()
	schema := strings.TrimSuffix(pre, "_") + "audit"
	// Create every table once, before the workers start at once.
	admin, err := fleetpg.NewKills(ctx, p, fleetpg.KillOptions{Prefix: pre})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fleetpg.NewLimits(ctx, p, fleetpg.LimitOptions{Prefix: pre}); err != nil {
		t.Fatal(err)
	}
	sink, err := auditpg.New(ctx, p, auditpg.Options{Schema: schema, Stream: "fleet"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	start := time.Now().Add(3 * time.Second) // workers built and waiting (they compile policy, connect)
	var procs []*exec.Cmd
	outs := make([]strings.Builder, loadProcs)
	for i := range loadProcs {
		cfg := loadConfig{Index: i, DSN: priv, Prefix: pre, Schema: schema, Start: start, Out: filepath.Join(dir, fmt.Sprint(i)), Duration: loadRun}
		raw, _ := json.Marshal(cfg)
		cmd := exec.Command(os.Args[0], "-test.run=^TestFleetLoadWorker$", "-test.count=1", "-test.timeout=1m")
		cmd.Env = append(os.Environ(), "MODELGUARD_FLEET_WORKER="+string(raw))
		// Not the test's own stdout: go test -json would read the worker's
		// "PASS" as this binary's.
		cmd.Stdout, cmd.Stderr = &outs[i], &outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, cmd)
	}
	at := func(d time.Duration) time.Duration { time.Sleep(time.Until(start.Add(d))); return time.Since(start) }
	killAt := at(loadKillAt)
	kill, err := admin.Activate(ctx, tools.Kill{Scope: tools.KillAll, By: "load-test", Reason: "fleet load test"})
	if err != nil {
		t.Fatal(err)
	}
	liftAt := at(loadLiftAt)
	if _, err := admin.Lift(ctx, kill.ID, "load-test"); err != nil {
		t.Fatal(err)
	}
	at(loadDownAt)
	ctl("stop")
	downFrom := time.Since(start)
	downTo := at(loadDownAt + loadDownFor)
	ctl("start")
	upAt := time.Since(start)
	for i, cmd := range procs {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("worker %d: %v\n%s", i, err, outs[i].String())
		}
	}
	calls := make([][]loadCall, loadProcs)
	for i := range loadProcs {
		calls[i] = readCalls(t, filepath.Join(dir, fmt.Sprint(i)))
	}
	checkFleet(t, ctx, sink, calls, fleetTimes{killAt, liftAt, downFrom, downTo, upAt})
}

func readCalls(t *testing.T, path string) []loadCall {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cs []loadCall
	dec := json.NewDecoder(bufio.NewReader(f))
	for dec.More() {
		var c loadCall
		if err := dec.Decode(&c); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	return cs
}

type fleetTimes struct{ kill, lift, downFrom, downTo, up time.Duration }

func checkFleet(t *testing.T, ctx context.Context, sink *auditpg.Sink, calls [][]loadCall, ft fleetTimes) {
	acked := map[string]bool{}
	var searches, paid int64
	codes := map[string]int{}
	total := 0
	var lats []time.Duration
	for w, cs := range calls {
		var probe loadCall
		for _, c := range cs {
			if c.Code == "probe" {
				probe = c
			}
		}
		stopped, resumed := time.Duration(probe.S)-ft.kill, time.Duration(probe.E)-ft.lift
		if probe.S < 0 || probe.E < 0 || stopped < 0 || resumed < 0 {
			t.Fatalf("worker %d: the kill switch never stopped (%v) or never resumed (%v) it", w, time.Duration(probe.S), time.Duration(probe.E))
		}
		killed := 0
		for _, c := range cs {
			if c.Code == "probe" {
				continue
			}
			total++
			codes[c.Code]++
			s, e := time.Duration(c.S), time.Duration(c.E)
			if c.Code == "ok" {
				acked[c.ID] = true
				lats = append(lats, e-s)
				switch c.T {
				case 1:
					searches++
				case 2:
					paid += c.Amount
				}
			}
			if c.Code == string(tools.CodeKilled) && s < ft.kill {
				t.Errorf("worker %d: call %s killed before the kill switch was activated", w, c.ID)
			}
			if c.Code == string(tools.CodeKilled) {
				killed++
			}
			if c.Code == "ok" && s > ft.kill+stopped && s < ft.lift {
				t.Errorf("worker %d: call %s allowed after the kill switch stopped the instance", w, c.ID)
			}
			if c.Code == "ok" && s > ft.downFrom && e < ft.downTo {
				t.Errorf("worker %d: call %s allowed while PostgreSQL was down", w, c.ID)
			}
		}
		if killed == 0 {
			t.Errorf("worker %d: no call was denied as killed", w)
		}
		if stopped > loadKillBound {
			t.Errorf("worker %d: the kill switch took %v to stop it (bound %v)", w, stopped, loadKillBound)
		}
		t.Logf("worker %d: %d calls; kill switch stopped it %v after activation (%d calls denied as killed), lift resumed it after %v",
			w, len(cs)-1, stopped.Round(time.Microsecond), killed, resumed.Round(time.Microsecond))
	}
	if searches != loadBurst {
		t.Errorf("the fleet allowed %d searches; one instance allows %d", searches, loadBurst)
	}
	if paid != loadBudget {
		t.Errorf("the fleet paid %d cents of a budget of %d", paid, loadBudget)
	}
	down := 0
	for _, cs := range calls {
		for _, c := range cs {
			if c.Code != "probe" && time.Duration(c.S) > ft.downFrom && time.Duration(c.E) < ft.downTo {
				down++
			}
		}
	}
	if down == 0 {
		t.Error("no call was made while PostgreSQL was down")
	}
	// The audit stream: verifies (sequence, hashes, checkpoint), and holds every
	// acknowledged call once, decision and outcome.
	res, err := sink.Verify(ctx, audit.VerifyOptions{})
	if err != nil {
		t.Fatalf("audit stream does not verify: %v", err)
	}
	decided, done := map[string]int{}, map[string]int{}
	ids := map[string]bool{}
	var next uint64 = 1
	err = sink.Events(ctx, func(e audit.Event) error {
		if e.Seq != next {
			return fmt.Errorf("sequence %d where %d was due", e.Seq, next)
		}
		next++
		if ids[e.ID] {
			return fmt.Errorf("event %s twice", e.ID)
		}
		ids[e.ID] = true
		var in loadIn
		switch {
		case e.Phase == audit.PhaseDecision && e.Decision == "allow":
			if json.Unmarshal(e.Args, &in) == nil {
				decided[in.ID]++
			}
		case e.Phase == audit.PhaseOutcome && e.Outcome == audit.OutcomeOK:
			var id string
			if json.Unmarshal(e.Output, &id) == nil {
				done[id]++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	lost := 0
	for id := range acked {
		if decided[id] != 1 || done[id] != 1 {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged calls are not in the audit log exactly once", lost, len(acked))
	}
	slices.Sort(lats)
	pct := func(q float64) time.Duration { return lats[int(q*float64(len(lats)-1))].Round(time.Microsecond) }
	t.Logf("fleet: %d processes × %d callers for %v: %d calls, %d allowed (%.0f allowed calls/s), p50 %v p99 %v",
		loadProcs, loadCallers, loadRun, total, len(acked), float64(len(acked))/loadRun.Seconds(), pct(0.5), pct(0.99))
	t.Logf("shared limits: %d searches allowed of a burst of %d; %d of %d cents paid", searches, loadBurst, paid, loadBudget)
	t.Logf("audit: %d records, sequence 1..%d without gap or duplicate, verified; %d acknowledged calls all in it", res.Records, next-1, len(acked))
	t.Logf("PostgreSQL down from %v to %v (up again %v): %d calls made meanwhile, all denied; outcomes: %v",
		ft.downFrom.Round(time.Millisecond), ft.downTo.Round(time.Millisecond), ft.up.Round(time.Millisecond), down, codes)
}
