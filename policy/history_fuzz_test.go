package policy_test

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
)

// FuzzHistory holds the history functions to a plain reference over any
// history and any glob, label and window: count, seen and approved answer as
// a direct scan does (or fail when the window reaches past the horizon), and
// a decision replayed from the facts it recorded is the same decision.
func FuzzHistory(f *testing.F) {
	f.Add(uint64(1), "payments.initiate", "private", int64(time.Hour))
	f.Add(uint64(2), "invoices.*", "customer_pii", int64(24*time.Hour))
	f.Add(uint64(3), "*", "untrusted", int64(time.Minute))
	f.Add(uint64(4), "\\", "", int64(-1))
	f.Add(uint64(5), "a?c", "invoice:I-1", int64(0))
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	tools := []string{"payments.initiate", "invoices.summarize", "abc", "web.fetch", ""}
	labels := []string{"private", "untrusted", "customer_pii", "invoice:I-1"}
	f.Fuzz(func(t *testing.T, seed uint64, glob, label string, window int64) {
		r := rand.New(rand.NewPCG(seed, 3))
		st := &policy.HistoryState{ID: "s"}
		if r.IntN(3) == 0 {
			st.Horizon = now.Add(-time.Duration(r.IntN(48)) * time.Hour)
		}
		for i, n := 0, r.IntN(20); i < n; i++ {
			ev := policy.HistoryEvent{Time: now.Add(-time.Duration(r.IntN(48*60)) * time.Minute), Tool: tools[r.IntN(len(tools))],
				Approved: r.IntN(3) == 0}
			if r.IntN(2) == 0 {
				ev.Labels = []string{labels[r.IntN(len(labels))]}
			}
			st.Events = append(st.Events, ev)
		}
		q := strconv.Quote
		win := time.Duration(window)
		n0, n1 := countRef(st, time.Time{}, glob), countRef(st, now.Add(-win), glob)
		exprs := []string{
			`session.count(` + q(glob) + `) == ` + strconv.Itoa(n0),
			`session.count(` + q(glob) + `, duration(` + q(win.String()) + `)) == ` + strconv.Itoa(n1),
			`session.seen(` + q(label) + `, duration(` + q(win.String()) + `))`,
			`session.approved(` + q(glob) + `, duration(` + q(win.String()) + `))`,
		}
		for i, when := range exprs {
			set, err := policy.NewSet([]policy.Rule{{ID: "r", Effect: policy.Permit, Tools: []string{"t"}, When: when}}, policy.Options{})
			if err != nil {
				continue // e.g. a duration CEL does not take
			}
			prog, err := set.Compile(policy.Tool{Name: "t"})
			if err != nil {
				t.Fatal(err)
			}
			h := policy.NewHistory(st, now)
			in := policy.Input{Identity: &identity.Claims{Subject: "m"}, Request: policy.Request{Time: now}, Session: h}
			d := prog.Decide(context.Background(), in)
			want, wantErr := historyReference(st, now, i, glob, label, win)
			if wantErr != (len(d.Errors) > 0) {
				t.Fatalf("%s: errors %v, reference error %v", when, d.Errors, wantErr)
			}
			if !wantErr && d.Allowed != want {
				t.Fatalf("%s: allowed %v, reference %v", when, d.Allowed, want)
			}
			if wantErr {
				continue
			}
			in.Session = policy.ReplayHistory(h.ID, h.Labels, h.Calls, h.Age, h.Facts())
			if r := prog.Decide(context.Background(), in); r.Allowed != d.Allowed || len(r.Errors) > 0 {
				t.Fatalf("%s: replay %v %v, live %v", when, r.Allowed, r.Errors, d.Allowed)
			}
		}
	})
}

// historyReference answers expression i of FuzzHistory by a direct scan.
func historyReference(st *policy.HistoryState, now time.Time, i int, glob, label string, win time.Duration) (bool, bool) {
	windowed := i > 0
	if windowed && win <= 0 {
		return false, true
	}
	from := time.Time{}
	if windowed {
		from = now.Add(-win)
	}
	if i != 2 && !st.Horizon.IsZero() && from.Before(st.Horizon) {
		return false, true
	}
	if i == 2 && !st.Horizon.IsZero() && from.Before(st.Horizon) {
		return false, true // seen with a window scans events when no LastSeen is kept
	}
	if i < 2 && policy.ValidPattern(glob) != nil || i == 3 && policy.ValidPattern(glob) != nil {
		return false, true
	}
	found := false
	for _, e := range st.Events {
		if e.Time.Before(from) {
			continue
		}
		switch i {
		case 2:
			for _, l := range e.Labels {
				found = found || l == label
			}
		case 3:
			found = found || (e.Approved && e.Tool != "" && policy.MatchTool(glob, e.Tool))
		}
	}
	if i < 2 {
		return true, false
	}
	return found, false
}

func countRef(st *policy.HistoryState, from time.Time, glob string) int {
	n := 0
	for _, e := range st.Events {
		if e.Tool != "" && !e.Time.Before(from) && policy.MatchTool(glob, e.Tool) {
			n++
		}
	}
	return n
}
