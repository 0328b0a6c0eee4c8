package policy_test

import (
	"context"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
)

// The three policies of issue #12.
const sessionPolicy = `
rules:
  - id: no-exfiltration
    effect: forbid
    tools: ["http.post", "email.send"]
    when: '"untrusted" in session.labels && "private" in session.labels'
    message: "session had seen: private, untrusted"
  - id: egress-after-pii
    effect: forbid
    labels: [egress]
    when: history.seen("customer_pii", duration("24h"))
    message: "'this agent saw customer_pii in the last 24h'"
  - id: senders
    effect: permit
    tools: ["http.post", "email.send", "web.upload"]
  - id: summarize
    effect: permit
    tools: ["invoices.summarize"]
    add_labels: ["'invoice:' + args.invoice_id", private]
  - id: pay-after-summary
    effect: permit
    tools: ["payments.initiate"]
    when: >-
      session.count("payments.initiate") < 3 &&
      ("invoice:" + args.invoice_id) in session.labels
  - id: plain
    effect: permit
    tools: ["docs.read"]
    when: identity.agent == "bot"
`

type invoiceArgs struct {
	InvoiceID string `json:"invoice_id"`
}

func hist(now time.Time, labels []string, events ...policy.HistoryEvent) *policy.History {
	st := &policy.HistoryState{ID: "s1", Labels: labels, Events: events, Calls: int64(len(events))}
	for range labels {
		st.LastSeen = append(st.LastSeen, now.Add(-time.Hour))
	}
	if len(events) > 0 {
		st.First = events[0].Time
	}
	return policy.NewHistory(st, now)
}

func TestSessionPolicies(t *testing.T) {
	t.Parallel()
	set := mustSet(t, sessionPolicy)
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	id := &identity.Claims{Subject: "model:1", Agent: "bot"}
	empty := func() *policy.History { return hist(now, nil) }
	inv := reflect.TypeFor[invoiceArgs]()
	pay := func(n int, labels ...string) *policy.History {
		var evs []policy.HistoryEvent
		for i := 0; i < n; i++ {
			evs = append(evs, policy.HistoryEvent{Time: now.Add(-time.Minute), Tool: "payments.initiate"})
		}
		return hist(now, labels, evs...)
	}
	cases := []struct {
		name         string
		tool         policy.Tool
		args         any
		session, hst *policy.History
		allow        bool
		msg          string
	}{
		{"post clean", policy.Tool{Name: "http.post"}, nil, empty(), empty(), true, ""},
		{"post private only", policy.Tool{Name: "http.post"}, nil, hist(now, []string{"private"}), empty(), true, ""},
		{"post private+untrusted", policy.Tool{Name: "email.send"}, nil, hist(now, []string{"private", "untrusted"}), empty(), false, "session had seen: private, untrusted"},
		{"egress after pii", policy.Tool{Name: "web.upload", Labels: []string{"egress"}}, nil, empty(), hist(now, []string{"customer_pii"}), false, "this agent saw customer_pii in the last 24h"},
		{"egress pii long ago", policy.Tool{Name: "web.upload", Labels: []string{"egress"}}, nil, empty(),
			policy.NewHistory(&policy.HistoryState{Labels: []string{"customer_pii"}, LastSeen: []time.Time{now.Add(-25 * time.Hour)}}, now), true, ""},
		{"pay without summary", policy.Tool{Name: "payments.initiate", Input: inv}, &invoiceArgs{"I-1"}, pay(0), empty(), false, ""},
		{"pay other invoice", policy.Tool{Name: "payments.initiate", Input: inv}, &invoiceArgs{"I-1"}, pay(0, "invoice:I-2"), empty(), false, ""},
		{"pay after summary", policy.Tool{Name: "payments.initiate", Input: inv}, &invoiceArgs{"I-1"}, pay(2, "invoice:I-1"), empty(), true, ""},
		{"fourth payment", policy.Tool{Name: "payments.initiate", Input: inv}, &invoiceArgs{"I-1"}, pay(3, "invoice:I-1"), empty(), false, ""},
		{"no history given", policy.Tool{Name: "http.post"}, nil, nil, nil, false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			prog, err := set.Compile(tc.tool)
			if err != nil {
				t.Fatal(err)
			}
			d := prog.Decide(context.Background(), policy.Input{Identity: id, Args: tc.args, Request: policy.Request{Time: now},
				Session: tc.session, Principal: tc.hst})
			if d.Allowed != tc.allow {
				t.Fatalf("allowed = %v, want %v: %v %v", d.Allowed, tc.allow, d.Reasons, d.Errors)
			}
			if tc.msg != "" && !slices.Contains(d.Messages, tc.msg) {
				t.Fatalf("messages %q, want %q", d.Messages, tc.msg)
			}
		})
	}
}

func TestSummarizeAddsLabels(t *testing.T) {
	t.Parallel()
	set := mustSet(t, sessionPolicy)
	prog, err := set.Compile(policy.Tool{Name: "invoices.summarize", Input: reflect.TypeFor[invoiceArgs]()})
	if err != nil {
		t.Fatal(err)
	}
	d := prog.Decide(context.Background(), policy.Input{Identity: &identity.Claims{Subject: "m"}, Args: &invoiceArgs{"I-9"}})
	if !d.Allowed || !slices.Equal(d.Obligations.Labels, []string{"invoice:I-9", "private"}) {
		t.Fatalf("decision %+v", d)
	}
	if r, _ := prog.Reads(); r.Any() {
		t.Fatalf("summarize reads no history, Reads = %+v", r)
	}
}

// Reads is decided at compile time: only programs whose rules name session or
// history need a store.
func TestReads(t *testing.T) {
	t.Parallel()
	set := mustSet(t, sessionPolicy)
	for _, tc := range []struct {
		tool policy.Tool
		want policy.Reads
	}{
		{policy.Tool{Name: "docs.read"}, policy.Reads{}},
		{policy.Tool{Name: "http.post"}, policy.Reads{Session: true}},
		{policy.Tool{Name: "web.upload", Labels: []string{"egress"}}, policy.Reads{Principal: true}},
		{policy.Tool{Name: "email.send", Labels: []string{"egress"}}, policy.Reads{Session: true, Principal: true}},
	} {
		prog, err := set.Compile(tc.tool)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := prog.Reads(); got != tc.want {
			t.Errorf("%s: Reads = %+v, want %+v", tc.tool.Name, got, tc.want)
		}
	}
}

func TestHistoryTypeErrors(t *testing.T) {
	t.Parallel()
	for _, when := range []string{
		`session.count(1) > 0`,
		`session.labels == "x"`,
		`session.count("a", "1h") > 0`,
		`history.nope`,
		`session.seen("x") == 1`,
	} {
		rules := []policy.Rule{{ID: "r", Effect: policy.Permit, Tools: []string{"t"}, When: when}}
		if _, err := policy.NewSet(rules, policy.Options{}); !errors.Is(err, policy.ErrType) {
			t.Errorf("%s: err = %v, want ErrType", when, err)
		}
	}
	bad := []policy.Rule{{ID: "r", Effect: policy.Permit, Tools: []string{"t"}, AddLabels: []string{"1 + 2"}}}
	if _, err := policy.NewSet(bad, policy.Options{}); !errors.Is(err, policy.ErrType) {
		t.Errorf("add_labels int: err = %v", err)
	}
	forbid := []policy.Rule{{ID: "r", Effect: policy.Forbid, Tools: []string{"t"}, AddLabels: []string{"x"}}}
	if _, err := policy.NewSet(forbid, policy.Options{}); !errors.Is(err, policy.ErrInvalid) {
		t.Errorf("forbid with add_labels: err = %v", err)
	}
}

// A window reaching before what the store keeps fails the rule (and so
// denies); so does a bad glob.
func TestHistoryHorizon(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	st := &policy.HistoryState{Horizon: now.Add(-time.Hour), Events: []policy.HistoryEvent{{Time: now.Add(-time.Minute), Tool: "a"}}}
	for _, tc := range []struct {
		when string
		ok   bool
	}{
		{`history.count("a", duration("30m")) == 1`, true},
		{`history.count("a", duration("2h")) == 1`, false},
		{`history.count("a") == 1`, false},
		{`history.count("[", duration("30m")) == 1`, false},
		{`history.count("a", duration("-1m")) == 0`, false},
		{`!history.approved("*", duration("30m"))`, true},
	} {
		rules := []policy.Rule{{ID: "r", Effect: policy.Permit, Tools: []string{"t"}, When: tc.when}}
		set, err := policy.NewSet(rules, policy.Options{})
		if err != nil {
			t.Fatal(err)
		}
		prog, _ := set.Compile(policy.Tool{Name: "t"})
		d := prog.Decide(context.Background(), policy.Input{Identity: &identity.Claims{Subject: "m"}, Request: policy.Request{Time: now},
			Principal: policy.NewHistory(st, now)})
		if d.Allowed != tc.ok {
			t.Errorf("%s: allowed = %v, want %v (%v)", tc.when, d.Allowed, tc.ok, d.Errors)
		}
	}
}

// The facts a decision read replay to the same decision; a fact not recorded
// fails the rule.
func TestHistoryReplay(t *testing.T) {
	t.Parallel()
	set := mustSet(t, sessionPolicy)
	prog, _ := set.Compile(policy.Tool{Name: "payments.initiate", Input: reflect.TypeFor[invoiceArgs]()})
	now := time.Now()
	h := hist(now, []string{"invoice:I-1"}, policy.HistoryEvent{Time: now, Tool: "payments.initiate"})
	in := policy.Input{Identity: &identity.Claims{Subject: "m"}, Args: &invoiceArgs{"I-1"}, Session: h}
	if d := prog.Decide(context.Background(), in); !d.Allowed {
		t.Fatalf("live: %v", d.Reasons)
	}
	facts := h.Facts()
	if len(facts) != 1 || facts[0].String() != `count("payments.initiate") = 1` || facts[0].Value != int64(1) {
		t.Fatalf("facts = %+v", facts)
	}
	in.Session = policy.ReplayHistory(h.ID, h.Labels, h.Calls, h.Age, []policy.Fact{{Func: "count", Arg: "payments.initiate", Value: float64(1)}})
	if d := prog.Decide(context.Background(), in); !d.Allowed {
		t.Fatalf("replay: %v", d.Reasons)
	}
	in.Session = policy.ReplayHistory(h.ID, h.Labels, h.Calls, h.Age, []policy.Fact{{Func: "count", Arg: "payments.initiate", Value: float64(3)}})
	if d := prog.Decide(context.Background(), in); d.Allowed {
		t.Fatal("replay with 3 payments allowed")
	}
	in.Session = policy.ReplayHistory(h.ID, h.Labels, h.Calls, h.Age, nil)
	if d := prog.Decide(context.Background(), in); d.Allowed || !strings.Contains(d.Reasons[0], "not recorded") {
		t.Fatalf("replay without facts: %+v", d)
	}
}

func TestSessionCasesYAML(t *testing.T) {
	t.Parallel()
	set, err := policy.Load(policy.Options{}, "testdata/session/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile("testdata/session/policy_test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cases, err := policy.ParseCases("policy_test.yaml", data)
	if err != nil {
		t.Fatal(err)
	}
	rep := set.Test(context.Background(), cases, []policy.Tool{
		{Name: "payments.initiate", Input: reflect.TypeFor[invoiceArgs]()},
		{Name: "invoices.summarize", Input: reflect.TypeFor[invoiceArgs]()},
		{Name: "web.upload", Labels: []string{"egress"}},
	})
	for _, r := range rep.Failed() {
		t.Errorf("%s: %v", r.Case.Name, r.Failures)
	}
	if un := rep.Uncovered(); len(un) > 0 {
		t.Errorf("uncovered: %v", un)
	}
	// An expectation the history makes false is caught.
	bad, _ := policy.ParseCases("bad.yaml", []byte(`
cases:
  - name: wrongly expects allow
    tool: http.post
    identity: {sub: m}
    session: {labels: [private, untrusted]}
    expect: {allow: true}
  - name: bad ago
    tool: http.post
    identity: {sub: m}
    session: {events: [{tool: x, ago: yesterday}]}
`))
	if rep := set.Test(context.Background(), bad, nil); len(rep.Failed()) != 2 {
		t.Fatalf("failed = %+v", rep.Failed())
	}
}
