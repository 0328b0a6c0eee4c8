package audit_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/modelguard/modelguard/audit"
)

// gate is a sink that blocks until opened and fails while broken.
type gate struct {
	mu     sync.Mutex
	open   chan struct{}
	broken error
	mem    audit.Memory
}

func newGate() *gate { return &gate{open: make(chan struct{})} }

func (g *gate) Record(ctx context.Context, e audit.Event) error {
	<-g.open
	g.mu.Lock()
	err := g.broken
	g.mu.Unlock()
	if err != nil {
		return err
	}
	return g.mem.Record(ctx, e)
}

func (g *gate) setBroken(err error) { g.mu.Lock(); g.broken = err; g.mu.Unlock() }

func TestAsyncFullQueueWaitsThenFails(t *testing.T) {
	t.Parallel()
	g := newGate()
	a := audit.NewAsync(g, audit.AsyncOptions{QueueSize: 2, MaxWait: time.Millisecond})
	ctx := context.Background()
	// One event in the worker's hands, two in the queue: then it is full.
	for i := range 3 {
		for a.Record(ctx, numbered(i)) != nil {
		}
	}
	err := a.Record(ctx, numbered(9))
	if !errors.Is(err, audit.ErrQueueFull) {
		t.Fatalf("Record on a full queue: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := a.Record(cancelled, numbered(9)); !errors.Is(err, audit.ErrQueueFull) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Record on a full queue with a done ctx: %v", err)
	}
	close(g.open)
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if st := a.Stats(); g.mem.Len() != 3 || st.Recorded != 3 || st.Rejected < 2 {
		t.Fatalf("recorded %d, stats %+v", g.mem.Len(), st)
	}
}

func TestAsyncRetriesAndDeniesWhileFailing(t *testing.T) {
	t.Parallel()
	g := newGate()
	close(g.open)
	down := errors.New("database down")
	g.setBroken(down)
	var reported sync.WaitGroup
	reported.Add(1)
	var once sync.Once
	a := audit.NewAsync(g, audit.AsyncOptions{RetryInterval: time.Millisecond,
		OnError: func(error) { once.Do(reported.Done) }})
	ctx := context.Background()
	if err := a.Record(ctx, numbered(1)); err != nil {
		t.Fatal(err)
	}
	reported.Wait()
	if err := a.Record(ctx, numbered(2)); !errors.Is(err, audit.ErrUnavailable) || !errors.Is(err, down) {
		t.Fatalf("Record while the next sink fails: %v", err)
	}
	g.setBroken(nil)
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Record(ctx, numbered(3)); err != nil {
		t.Fatalf("Record after recovery: %v", err)
	}
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	evs := g.mem.Events()
	if len(evs) != 2 || evs[0].ID != "e-1" || evs[1].ID != "e-3" {
		t.Fatalf("recorded %+v", evs)
	}
	if st := a.Stats(); st.Retries == 0 || st.Err != nil {
		t.Fatalf("stats %+v", st)
	}
}

func TestAsyncCloseReportsLostEvents(t *testing.T) {
	t.Parallel()
	g := newGate()
	close(g.open)
	g.setBroken(errors.New("gone for good"))
	a := audit.NewAsync(g, audit.AsyncOptions{RetryInterval: time.Hour})
	for i := range 3 {
		if err := a.Record(context.Background(), numbered(i)); err != nil && !errors.Is(err, audit.ErrUnavailable) {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := a.Close(ctx)
	if !errors.Is(err, audit.ErrUnavailable) || a.Stats().Lost == 0 {
		t.Fatalf("Close = %v, stats %+v", err, a.Stats())
	}
	if err := a.Record(context.Background(), numbered(5)); !errors.Is(err, audit.ErrClosed) {
		t.Fatalf("Record after Close: %v", err)
	}
}
