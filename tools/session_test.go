package tools

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// Invariant: under any sequence of records with any bounds, a session that was
// ever given a label either still reports that label or reports ErrHistoryLost:
// eviction never makes a session look cleaner than it was.
func TestMemorySessionsEvictionNeverLaunders(t *testing.T) {
	for seed := uint64(0); seed < 50; seed++ {
		r := rand.New(rand.NewPCG(seed, 1))
		s := &MemorySessions{MaxSessions: 1 + r.IntN(5), MaxEvents: 1 + r.IntN(6)}
		truth := map[string][]string{}
		for i := 0; i < 300; i++ {
			key := fmt.Sprintf("s%d", r.IntN(12))
			var labels []string
			if r.IntN(3) == 0 {
				labels = []string{[]string{"private", "untrusted", "customer_pii"}[r.IntN(3)]}
			}
			s.Record(key, SessionEvent{Time: time.Unix(int64(i), 0), Tool: "t", Labels: labels})
			truth[key] = append(truth[key], labels...)
			for k, want := range truth {
				h, err := s.History(k)
				if errors.Is(err, ErrHistoryLost) {
					continue
				}
				if err != nil {
					t.Fatalf("seed %d: History(%s): %v", seed, k, err)
				}
				for _, l := range want {
					if !slices.Contains(h.Labels, l) {
						t.Fatalf("seed %d step %d: session %s lost label %q without ErrHistoryLost: %v", seed, i, k, l, h.Labels)
					}
				}
			}
		}
	}
}

func TestMemorySessionsBounds(t *testing.T) {
	s := &MemorySessions{MaxSessions: 2, MaxEvents: 2}
	s.Record("a", SessionEvent{Tool: "docs.read", Labels: []string{"private"}})
	s.Record("b", SessionEvent{Tool: "web.fetch", Labels: []string{"untrusted"}})
	s.Record("c", SessionEvent{Tool: "x"}) // evicts a, the least recently used
	if _, err := s.History("a"); !errors.Is(err, ErrHistoryLost) {
		t.Fatalf("evicted session: err = %v, want ErrHistoryLost", err)
	}
	h, err := s.History("b")
	if err != nil || !slices.Equal(h.Labels, []string{"untrusted"}) || len(h.Events) != 1 {
		t.Fatalf("kept session: %+v, %v", h, err)
	}
	if h, err := s.History("never"); err != nil || len(h.Events) != 0 {
		t.Fatalf("unknown session: %+v, %v", h, err)
	}
	s.Record("b", SessionEvent{Tool: "y"})
	s.Record("b", SessionEvent{Tool: "z"}) // third event: over MaxEvents
	if _, err := s.History("b"); !errors.Is(err, ErrHistoryLost) {
		t.Fatalf("truncated session: err = %v, want ErrHistoryLost", err)
	}
}

// Concurrent records to one session are all kept (or the session is reported
// lost): no append is dropped by a race.
func TestMemorySessionsConcurrent(t *testing.T) {
	s := &MemorySessions{MaxSessions: 4, MaxEvents: 1000}
	done := make(chan struct{})
	for g := 0; g < 8; g++ {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := 0; i < 50; i++ {
				s.Record("one", SessionEvent{Tool: "t", Labels: []string{"private"}})
				_, _ = s.History("one")
			}
		}()
	}
	for g := 0; g < 8; g++ {
		<-done
	}
	h, err := s.History("one")
	if err != nil || len(h.Events) != 400 || !slices.Equal(h.Labels, []string{"private"}) {
		t.Fatalf("after 400 concurrent records: %d events, labels %v, err %v", len(h.Events), h.Labels, err)
	}
}
