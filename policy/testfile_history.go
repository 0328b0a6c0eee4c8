package policy

import (
	"fmt"
	"time"
)

// CaseHistory is the session or principal history of a [Case]: either events
// (each some time before request.time), from which every fact is computed, or
// recorded facts, in the shape a decision event's history holds them (so an
// audit record's history can be pasted into a call for `modelguard policy
// explain`):
//
//	session:
//	  labels: [private]
//	  events:
//	    - {tool: web.fetch, labels: [untrusted], ago: 5m}
//	    - {tool: payments.initiate, ago: 1m, approved: true}
//	history:
//	  facts: [{func: seen, arg: customer_pii, window_ns: 86400000000000, value: true}]
//
// A case that states no history decides with an empty one: a fresh session.
type CaseHistory struct {
	ID     string      `json:"id"`
	Labels []string    `json:"labels"`
	Events []CaseEvent `json:"events"`
	// Calls and AgeNS are used with Facts; with Events they are computed.
	Calls int64         `json:"calls"`
	AgeNS time.Duration `json:"age_ns"`
	Facts []Fact        `json:"facts"`
}

// CaseEvent is one event of a [CaseHistory]: Ago is a duration ("5m") before
// the case's request.time.
type CaseEvent struct {
	Tool     string   `json:"tool"`
	Labels   []string `json:"labels"`
	Approved bool     `json:"approved"`
	Ago      string   `json:"ago"`
}

// history builds the History of h as of now; nil h is an empty history.
func (h *CaseHistory) history(now time.Time) (*History, error) {
	if h == nil {
		return NewHistory(&HistoryState{}, now), nil
	}
	if len(h.Facts) > 0 {
		if len(h.Events) > 0 {
			return nil, fmt.Errorf("history: give events or facts, not both")
		}
		return ReplayHistory(h.ID, h.Labels, h.Calls, h.AgeNS, h.Facts), nil
	}
	st := &HistoryState{ID: h.ID}
	add := func(l string, t time.Time) {
		for i, x := range st.Labels {
			if x == l {
				st.LastSeen[i] = maxTime(st.LastSeen[i], t)
				return
			}
		}
		st.Labels, st.LastSeen = append(st.Labels, l), append(st.LastSeen, t)
	}
	for _, l := range h.Labels {
		add(l, now)
	}
	for _, e := range h.Events {
		ago, err := time.ParseDuration(e.Ago)
		if e.Ago == "" {
			ago, err = 0, nil
		}
		if err != nil || ago < 0 {
			return nil, fmt.Errorf("history: event ago %q: want a duration such as 5m", e.Ago)
		}
		t := now.Add(-ago)
		st.Events = append(st.Events, HistoryEvent{Time: t, Tool: e.Tool, Labels: e.Labels, Approved: e.Approved})
		for _, l := range e.Labels {
			add(l, t)
		}
		if e.Tool != "" {
			st.Calls++
		}
		if st.First.IsZero() || t.Before(st.First) {
			st.First = t
		}
	}
	sortEvents(st.Events)
	return NewHistory(st, now), nil
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func sortEvents(evs []HistoryEvent) {
	for i := 1; i < len(evs); i++ {
		for j := i; j > 0 && evs[j].Time.Before(evs[j-1].Time); j-- {
			evs[j], evs[j-1] = evs[j-1], evs[j]
		}
	}
}
