package tools_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
)

func setFrom(t *testing.T, src string) *policy.Set {
	t.Helper()
	rules, err := policy.Parse("new.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	s, err := policy.NewSet(rules, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSetPolicySwapsAndAudits(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	get, _ := tools.Wrap(f.enf, tools.Tool{Name: "tickets.get"}, getTicket)
	ctx := f.ctx(t, supportClaims())
	if _, err := get(ctx, ticketIn{ID: "1"}); err != nil {
		t.Fatal(err)
	}
	old := f.enf.Policy().Version()

	// A set that does not type-check against a registered guard is rejected whole.
	bad := setFrom(t, "rules:\n  - {id: r, effect: permit, tools: [tickets.get], when: args.nope == 1}\n")
	if err := f.enf.SetPolicy(context.Background(), bad); !errors.Is(err, policy.ErrType) {
		t.Fatalf("SetPolicy(bad) = %v, want a type error", err)
	}
	if f.enf.Policy().Version() != old {
		t.Fatal("a rejected set replaced the policy")
	}
	if _, err := get(ctx, ticketIn{ID: "2"}); err != nil {
		t.Fatalf("last good policy no longer in force: %v", err)
	}

	deny := setFrom(t, "rules:\n  - {id: nothing, effect: forbid, tools: ['*']}\n")
	if err := f.enf.SetPolicy(context.Background(), deny); err != nil {
		t.Fatal(err)
	}
	_, err := get(ctx, ticketIn{ID: "3"})
	if !errors.Is(err, tools.ErrForbidden) {
		t.Fatalf("after swap: %v, want forbidden", err)
	}
	var policyEvents []audit.Event
	var lastDecision audit.Event
	for _, e := range f.sink.Events() {
		switch e.Phase {
		case audit.PhasePolicy:
			policyEvents = append(policyEvents, e)
		case audit.PhaseDecision:
			lastDecision = e
		}
	}
	if len(policyEvents) != 2 || policyEvents[0].Outcome != audit.OutcomeError || !strings.Contains(policyEvents[0].Error, "nope") ||
		policyEvents[1].Outcome != audit.OutcomeOK || policyEvents[1].PolicyVersion != deny.Version() {
		t.Fatalf("policy events = %+v", policyEvents)
	}
	if lastDecision.PolicyVersion != deny.Version() {
		t.Fatalf("decision recorded version %s, want %s", lastDecision.PolicyVersion, deny.Version())
	}
}

// A call in flight finishes on the policy it started with.
func TestInFlightCallKeepsItsVersion(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	entered, release := make(chan struct{}), make(chan struct{})
	slow, _ := tools.Wrap(f.enf, tools.Tool{Name: "tickets.get"}, func(ctx context.Context, in ticketIn) (string, error) {
		close(entered)
		<-release
		return "done", nil
	})
	ctx := f.ctx(t, supportClaims())
	var wg sync.WaitGroup
	var callErr error
	wg.Go(func() { _, callErr = slow(ctx, ticketIn{}) })
	<-entered
	old := f.enf.Policy().Version()
	if err := f.enf.SetPolicy(context.Background(), setFrom(t, "rules:\n  - {id: none, effect: forbid, tools: ['*']}\n")); err != nil {
		t.Fatal(err)
	}
	close(release)
	wg.Wait()
	if callErr != nil {
		t.Fatalf("in-flight call: %v", callErr)
	}
	for _, e := range f.sink.Events() {
		if e.Phase == audit.PhaseOutcome && e.PolicyVersion != old {
			t.Fatalf("outcome recorded under %s, want the version the call started on (%s)", e.PolicyVersion, old)
		}
	}
}

func TestWatchPolicy(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	get, _ := tools.Wrap(f.enf, tools.Tool{Name: "tickets.get"}, getTicket)
	dir := t.TempDir()
	path := filepath.Join(dir, "policy.yaml")
	write := func(src string) { // atomically, as deploy tools do: a poll sees old or new
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(src), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write(testPolicy)
	tick := make(chan time.Time)
	errs := make(chan error, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		f.enf.WatchPolicy(ctx, []string{path}, policy.WatchOptions{Tick: tick}, func(err error) { errs <- err })
		close(done)
	}()
	poll := func() { // a change is taken at the second poll; the third send waits for it
		for range 3 {
			select {
			case tick <- time.Time{}:
			case <-time.After(10 * time.Second):
				t.Fatal("WatchPolicy stopped polling")
			}
		}
	}
	call := func() error { _, err := get(f.ctx(t, supportClaims()), ticketIn{}); return err }
	next := func() error {
		select {
		case err := <-errs:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("no error reported by WatchPolicy")
			return nil
		}
	}
	poll() // Watch has taken the current content as its starting point

	write("rules:\n  - {id: r, effect: permit, tools: [tickets.get], when: 'args.missing'}\n")
	poll()
	if err := next(); !errors.Is(err, policy.ErrType) {
		t.Fatalf("bad file: %v", err)
	}
	if err := call(); err != nil {
		t.Fatalf("last good policy lost: %v", err)
	}
	write("rules: [\n")
	poll()
	if err := next(); !errors.Is(err, policy.ErrSyntax) {
		t.Fatalf("broken YAML: %v", err)
	}
	write("rules:\n  - {id: stop, effect: forbid, tools: [tickets.get]}\n")
	poll()
	if err := call(); !errors.Is(err, tools.ErrForbidden) {
		t.Fatalf("after good reload: %v", err)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("WatchPolicy did not return after its context was cancelled")
	}
	if len(errs) != 0 {
		t.Fatalf("unexpected errors: %v", <-errs)
	}
}

func TestArgsLimitsAndRecording(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	rec, err := tools.NewEnforcer(f.enf.Verifier(), f.enf.Policy(), f.sink, tools.Options{MaxArgsBytes: 64, RecordArgs: true})
	if err != nil {
		t.Fatal(err)
	}
	get, _ := tools.Wrap(rec, tools.Tool{Name: "tickets.get"}, getTicket)
	ctx := f.ctx(t, supportClaims())
	if _, err := get(ctx, ticketIn{ID: "T-1"}); err != nil {
		t.Fatal(err)
	}
	evs := f.sink.Events()
	if string(evs[0].Args) != `{"id":"T-1"}` || evs[1].Args != nil {
		t.Fatalf("recorded args: decision %s, outcome %s", evs[0].Args, evs[1].Args)
	}
	ran := false
	big, _ := tools.Wrap(rec, tools.Tool{Name: "tickets.get"}, func(ctx context.Context, in ticketIn) (string, error) { ran = true; return "", nil })
	_, err = big(ctx, ticketIn{ID: strings.Repeat("x", 100)})
	var de *tools.DeniedError
	if !errors.As(err, &de) || de.Code != tools.CodeBadArgs || !errors.Is(err, tools.ErrBadArgs) || ran {
		t.Fatalf("oversized args: err = %v ran = %v", err, ran)
	}
	last := f.sink.Events()[f.sink.Len()-1]
	if last.Code != string(tools.CodeBadArgs) || last.Args != nil || last.ArgsDigest == "" {
		t.Fatalf("oversized args event = %+v", last)
	}
}

func TestShadowRecorded(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	get, _ := tools.Wrap(f.enf, tools.Tool{Name: "tickets.get"}, getTicket)
	if err := f.enf.SetPolicy(context.Background(), setFrom(t, testPolicy+"  - {id: try-forbid, effect: forbid, mode: shadow, tools: [tickets.get]}\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := get(f.ctx(t, supportClaims()), ticketIn{}); err != nil {
		t.Fatal(err)
	}
	evs := f.sink.Events()
	d := evs[len(evs)-2]
	if d.Phase != audit.PhaseDecision || !d.WouldFlip || len(d.Shadow) != 1 || d.Shadow[0] != "try-forbid" {
		t.Fatalf("decision event = %+v", d)
	}
}

func TestRecordOutput(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	rec, _ := tools.NewEnforcer(f.enf.Verifier(), f.enf.Policy(), f.sink, tools.Options{RecordOutput: true})
	get, _ := tools.Wrap(rec, tools.Tool{Name: "tickets.get"}, getTicket)
	out, err := get(f.ctx(t, supportClaims()), ticketIn{ID: "T-3"})
	if err != nil {
		t.Fatal(err)
	}
	o := f.sink.Events()[1]
	digest, _ := audit.Digest(out)
	if string(o.Output) != `{"id":"T-3","subject":"for model:support-1"}` || o.OutputDigest != digest {
		t.Fatalf("outcome = output %s digest %s, want digest %s", o.Output, o.OutputDigest, digest)
	}
}
