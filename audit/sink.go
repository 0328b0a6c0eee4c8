package audit

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// Sink records audit events.
//
// Record must be safe for concurrent use; a sink does its own locking. It must not
// drop an event because ctx is cancelled or past its deadline: ctx carries values
// (trace ids) and, for sinks that may block, a bound on how long to wait, but an
// event handed to Record is either recorded or reported as an error. A non-nil error
// means the event may not be durable; the guard then denies the call.
//
// The slices in e are read-only: callers never change them after Record, so a sink
// may keep them, and a sink must not change them.
type Sink interface {
	Record(ctx context.Context, e Event) error
}

// SinkFunc adapts a function to a [Sink].
type SinkFunc func(ctx context.Context, e Event) error

// Record calls f(ctx, e).
func (f SinkFunc) Record(ctx context.Context, e Event) error {
	if f == nil {
		return fmt.Errorf("audit: SinkFunc: %w", ErrNotReady)
	}
	return f(ctx, e)
}

// Multi returns a sink that records every event to each of sinks in order. It
// records to all of them even when one fails and returns the failures joined.
func Multi(sinks ...Sink) Sink {
	s := make(multi, 0, len(sinks))
	for _, k := range sinks {
		if k != nil {
			s = append(s, k)
		}
	}
	return s
}

type multi []Sink

func (m multi) Record(ctx context.Context, e Event) error {
	var errs []error
	for _, s := range m {
		if err := s.Record(ctx, e); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Memory is a sink that keeps events in memory, in the order recorded, numbering
// them from 1. It is meant for tests and small tools. The zero value is ready to
// use; it is safe for concurrent use.
type Memory struct {
	mu sync.Mutex
	// chunks hold the events, memChunk to a chunk: a Record never copies the
	// events before it (one growing slice would copy them all, under the
	// lock, each time it doubles — the long tail of a busy Memory).
	chunks [][]Event
	n      int
}

const memChunk = 512

// Record appends e, setting its Seq.
func (m *Memory) Record(_ context.Context, e Event) error {
	if m == nil {
		return fmt.Errorf("audit: Memory: %w", ErrNotReady)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n++
	e.Seq = uint64(m.n)
	last := len(m.chunks) - 1
	if last < 0 || len(m.chunks[last]) == memChunk {
		m.chunks = append(m.chunks, make([]Event, 0, memChunk))
		last++
	}
	m.chunks[last] = append(m.chunks[last], e)
	return nil
}

// Events returns a copy of the events recorded so far.
func (m *Memory) Events() []Event {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Event, 0, m.n)
	for _, c := range m.chunks {
		out = append(out, c...)
	}
	return out
}

// Len returns the number of events recorded so far.
func (m *Memory) Len() int {
	if m == nil {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n
}

// Reset forgets every event.
func (m *Memory) Reset() {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.chunks, m.n = nil, 0
}
