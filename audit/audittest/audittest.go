package audittest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/modelguard/modelguard/audit"
)

// Config tells [Run] how to make the sink under test.
type Config struct {
	// New returns a fresh, empty sink and a function that returns the events it
	// recorded, in order. Run calls the function after every Record it made
	// has returned; it may flush or close the sink first.
	New func(t *testing.T) (sink audit.Sink, recorded func() []audit.Event)
	// Failing, if set, returns a sink of the same kind that cannot record
	// (its storage is gone); Run checks that Record reports it.
	Failing func(t *testing.T) audit.Sink
	// Callers and PerCaller size the concurrency test; 0 means 16 and 50.
	Callers, PerCaller int
}

// Run runs the conformance tests as subtests of t.
func Run(t *testing.T, c Config) {
	t.Helper()
	if c.Callers == 0 {
		c.Callers = 16
	}
	if c.PerCaller == 0 {
		c.PerCaller = 50
	}
	t.Run("Order", func(t *testing.T) { order(t, c) })
	t.Run("Concurrency", func(t *testing.T) { concurrency(t, c) })
	t.Run("Cancellation", func(t *testing.T) { cancellation(t, c) })
	t.Run("RoundTrip", func(t *testing.T) { roundTrip(t, c) })
	if c.Failing != nil {
		t.Run("Errors", func(t *testing.T) { failing(t, c) })
	}
}

// Event returns a fully populated event with the given id, so that a sink that
// loses a field is caught.
func Event(id string) audit.Event {
	return audit.Event{
		ID: id, Time: time.Date(2026, 11, 26, 12, 0, 0, 123456789, time.UTC), Phase: audit.PhaseOutcome,
		CallID: "call-" + id, Tool: "tickets.get", Decision: audit.Allow, Code: "",
		Rules: []string{"tickets-read"}, Reasons: []string{"permitted"}, Controls: []string{"NIST-CSF-PR.AA-05"},
		PolicyVersion: "v1", SessionID: "conv-1", PromptID: "prompt-1", TraceID: "trace-1",
		Identity: audit.Identity{Issuer: "https://id.example", Subject: "model:a", TokenID: "jti-1", Agent: "support-bot",
			Tenant: "acme", Env: "prod", ModelProvider: "openai", ModelName: "gpt-x", ModelVersion: "1",
			Scopes: []string{"tickets:read"}, Act: []string{"user:alice"}},
		ArgsDigest: "sha256:00", OutputDigest: "sha256:11", Output: []byte(`{"title":"[redacted]"}`),
		Outcome: audit.OutcomeOK, Duration: 1500 * time.Microsecond,
	}
}

func record(t *testing.T, s audit.Sink, ctx context.Context, e audit.Event) {
	t.Helper()
	if err := s.Record(ctx, e); err != nil {
		t.Fatalf("Record(%s): %v", e.ID, err)
	}
}

func order(t *testing.T, c Config) {
	s, got := c.New(t)
	var want []string
	for i := range 20 {
		id := fmt.Sprintf("o-%02d", i)
		want = append(want, id)
		record(t, s, context.Background(), Event(id))
	}
	evs := got()
	if ids := idsOf(evs); !slices.Equal(ids, want) {
		t.Fatalf("recorded %v, want %v", ids, want)
	}
	checkSeq(t, evs)
}

func concurrency(t *testing.T, c Config) {
	s, got := c.New(t)
	var wg sync.WaitGroup
	errs := make(chan error, c.Callers*c.PerCaller)
	for g := range c.Callers {
		wg.Go(func() {
			for i := range c.PerCaller {
				if err := s.Record(context.Background(), Event(fmt.Sprintf("c-%d-%d", g, i))); err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("Record: %v", err)
	}
	evs := got()
	if len(evs) != c.Callers*c.PerCaller {
		t.Fatalf("recorded %d events for %d calls", len(evs), c.Callers*c.PerCaller)
	}
	seen := map[string]bool{}
	for _, e := range evs {
		if seen[e.ID] {
			t.Fatalf("event %s recorded twice", e.ID)
		}
		seen[e.ID] = true
	}
	checkSeq(t, evs)
}

func cancellation(t *testing.T, c Config) {
	s, got := c.New(t)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Unix(1, 0))
	defer cancel2()
	record(t, s, cancelled, Event("cancelled"))
	record(t, s, expired, Event("expired"))
	if ids := idsOf(got()); !slices.Equal(ids, []string{"cancelled", "expired"}) {
		t.Fatalf("recorded %v, want both events despite their done contexts", ids)
	}
}

func roundTrip(t *testing.T, c Config) {
	s, got := c.New(t)
	want := Event("round-trip")
	record(t, s, context.Background(), want)
	evs := got()
	if len(evs) != 1 {
		t.Fatalf("recorded %d events, want 1", len(evs))
	}
	g := evs[0]
	g.Seq = 0
	if !g.Time.Equal(want.Time) {
		t.Errorf("time %v, want %v", g.Time, want.Time)
	}
	g.Time = want.Time
	if !reflect.DeepEqual(g, want) {
		t.Errorf("event changed:\n got %+v\nwant %+v", g, want)
	}
}

func failing(t *testing.T, c Config) {
	s := c.Failing(t)
	if err := s.Record(context.Background(), Event("lost")); err == nil {
		t.Fatal("Record on a sink that cannot record returned nil")
	}
}

func idsOf(evs []audit.Event) []string {
	ids := make([]string, len(evs))
	for i, e := range evs {
		ids[i] = e.ID
	}
	return ids
}

// checkSeq checks that a numbering sink numbers 1, 2, 3, …
func checkSeq(t *testing.T, evs []audit.Event) {
	t.Helper()
	if len(evs) == 0 || evs[0].Seq == 0 {
		return
	}
	for i, e := range evs {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d (%s) has seq %d, want %d", i, e.ID, e.Seq, i+1)
		}
	}
}
