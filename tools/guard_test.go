package tools_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
)

const testPolicy = `
rules:
  - id: tickets-read
    effect: permit
    tools: ["tickets.get"]
    when: identity.agent == "support-bot" && "tickets:read" in identity.scopes
    controls: [NIST-CSF-PR.AA-05]
  - id: no-attachment-export
    effect: forbid
    tools: ["attachments.export"]
    message: "'attachment export is blocked for ' + identity.sub"
  - id: attachments
    effect: permit
    tools: ["attachments.*"]
  - id: flaky
    effect: permit
    tools: ["flaky.*"]
    when: "10 / args.divisor > 0"
`

type ticketIn struct {
	ID string `json:"id"`
}

type ticket struct {
	ID      string `json:"id"`
	Subject string `json:"subject"`
}

type divIn struct {
	Divisor int `json:"divisor"`
}

type fixture struct {
	enf    *tools.Enforcer
	sink   *audit.Memory
	issuer *identity.Issuer
	now    time.Time
}

func newFixture(t testing.TB, sink audit.Sink) *fixture {
	t.Helper()
	key, err := identity.GenerateKey(jose.EdDSA, "k1")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	iss, err := identity.NewIssuer("https://id.example", key, identity.IssuerOptions{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := identity.NewKeySet(iss.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	v, err := identity.NewVerifier("https://id.example", "modelguard", keys, identity.VerifierOptions{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	rules, err := policy.Parse("test.yaml", []byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	set, err := policy.NewSet(rules, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mem := &audit.Memory{}
	if sink == nil {
		sink = mem
	}
	enf, err := tools.NewEnforcer(v, set, sink, tools.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{enf: enf, sink: mem, issuer: iss, now: now}
}

func (f *fixture) ctx(t testing.TB, c identity.Claims) context.Context {
	t.Helper()
	c.Audience = []string{"modelguard"}
	tok, err := f.issuer.Mint(c)
	if err != nil {
		t.Fatal(err)
	}
	return identity.WithToken(context.Background(), tok)
}

func supportClaims() identity.Claims {
	return identity.Claims{Subject: "model:support-1", Agent: "support-bot", Scope: "tickets:read",
		Model: identity.Model{Provider: "anthropic", Name: "claude", Version: "4"}}
}

func getTicket(ctx context.Context, in ticketIn) (ticket, error) {
	c, ok := identity.FromContext(ctx)
	if !ok {
		return ticket{}, errors.New("tool got no verified identity")
	}
	return ticket{ID: in.ID, Subject: "for " + c.Subject}, nil
}

func TestGuardAllow(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	get, err := tools.Wrap(f.enf, tools.Tool{Name: "tickets.get"}, getTicket)
	if err != nil {
		t.Fatal(err)
	}
	ctx := tools.WithCall(f.ctx(t, supportClaims()), tools.Call{ID: "call_1", SessionID: "s1", PromptID: "p1"})
	out, err := get(ctx, ticketIn{ID: "T-1"})
	if err != nil {
		t.Fatal(err)
	}
	if out.Subject != "for model:support-1" {
		t.Fatalf("tool did not see the verified identity: %+v", out)
	}
	evs := f.sink.Events()
	if len(evs) != 2 {
		t.Fatalf("want 2 events, got %d", len(evs))
	}
	d, o := evs[0], evs[1]
	if d.Phase != audit.PhaseDecision || d.Decision != audit.Allow || !slices.Equal(d.Rules, []string{"tickets-read"}) ||
		!slices.Equal(d.Controls, []string{"NIST-CSF-PR.AA-05"}) {
		t.Errorf("decision event = %+v", d)
	}
	if o.Phase != audit.PhaseOutcome || o.Outcome != audit.OutcomeOK || o.CallID != "call_1" || d.CallID != "call_1" {
		t.Errorf("outcome event = %+v", o)
	}
	wantArgs, _ := audit.Digest(ticketIn{ID: "T-1"})
	wantOut, _ := audit.Digest(out)
	if d.ArgsDigest != wantArgs || o.OutputDigest != wantOut {
		t.Errorf("digests: args %q want %q; output %q want %q", d.ArgsDigest, wantArgs, o.OutputDigest, wantOut)
	}
	id := d.Identity
	if id.Subject != "model:support-1" || id.Agent != "support-bot" || id.ModelName != "claude" || id.TokenID == "" {
		t.Errorf("identity = %+v", id)
	}
	if d.SessionID != "s1" || d.PromptID != "p1" || d.PolicyVersion == "" || d.ID == o.ID {
		t.Errorf("ids: %+v / %+v", d, o)
	}
}

func TestGuardDenials(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ran := 0
	export := func(ctx context.Context, in ticketIn) (string, error) { ran++; return "data", nil }
	exp, err := tools.Wrap(f.enf, tools.Tool{Name: "attachments.export"}, export)
	if err != nil {
		t.Fatal(err)
	}
	get, err := tools.Wrap(f.enf, tools.Tool{Name: "tickets.get"}, func(ctx context.Context, in ticketIn) (string, error) { ran++; return "t", nil })
	if err != nil {
		t.Fatal(err)
	}
	coder := identity.Claims{Subject: "model:coder", Agent: "coder", Scope: "repo:read"}
	expired := supportClaims()
	expired.Expiry = f.now.Add(-time.Hour)
	expired.IssuedAt = f.now.Add(-2 * time.Hour)
	tests := []struct {
		name  string
		call  func() error
		code  string
		is    []error
		rules []string
	}{
		{name: "no token", call: func() error { _, err := get(context.Background(), ticketIn{}); return err },
			code: string(tools.CodeUnauthenticated), is: []error{tools.ErrUnauthenticated, identity.ErrNoToken}},
		{name: "garbage token", call: func() error {
			_, err := get(identity.WithToken(context.Background(), "not.a.token"), ticketIn{})
			return err
		}, code: string(tools.CodeUnauthenticated), is: []error{tools.ErrUnauthenticated, identity.ErrMalformed}},
		{name: "expired token", call: func() error { _, err := get(f.ctx(t, expired), ticketIn{}); return err },
			code: string(tools.CodeUnauthenticated), is: []error{tools.ErrUnauthenticated, identity.ErrExpired}},
		{name: "forbid rule", call: func() error { _, err := exp(f.ctx(t, supportClaims()), ticketIn{}); return err },
			code: string(tools.CodeForbidden), is: []error{tools.ErrForbidden}, rules: []string{"no-attachment-export"}},
		{name: "no permit", call: func() error { _, err := get(f.ctx(t, coder), ticketIn{}); return err },
			code: string(tools.CodeNoPermit), is: []error{tools.ErrForbidden}},
	}
	for _, tt := range tests {
		f.sink.Reset()
		ran = 0
		err := tt.call()
		var de *tools.DeniedError
		if !errors.As(err, &de) || string(de.Code) != tt.code {
			t.Fatalf("%s: err = %v, want DeniedError with code %s", tt.name, err, tt.code)
		}
		for _, s := range tt.is {
			if !errors.Is(err, s) {
				t.Errorf("%s: %v does not match %v", tt.name, err, s)
			}
		}
		if !slices.Equal(de.Rules, tt.rules) {
			t.Errorf("%s: rules = %q, want %q", tt.name, de.Rules, tt.rules)
		}
		if ran != 0 {
			t.Errorf("%s: tool ran on a denied call", tt.name)
		}
		evs := f.sink.Events()
		if len(evs) != 1 || evs[0].Decision != audit.Deny || evs[0].Code != tt.code || evs[0].Outcome != audit.OutcomeDenied {
			t.Errorf("%s: want one deny event, got %+v", tt.name, evs)
		}
	}
}

func TestForbidMessageReachesCaller(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	exp, err := tools.Wrap(f.enf, tools.Tool{Name: "attachments.export"}, func(ctx context.Context, in ticketIn) (string, error) { return "", nil })
	if err != nil {
		t.Fatal(err)
	}
	_, err = exp(f.ctx(t, supportClaims()), ticketIn{})
	if err == nil || !strings.Contains(err.Error(), "attachment export is blocked for model:support-1") {
		t.Fatalf("err = %v", err)
	}
}

func TestPolicyErrorDenies(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ran := false
	g, err := tools.Wrap(f.enf, tools.Tool{Name: "flaky.div"}, func(ctx context.Context, in divIn) (int, error) { ran = true; return 1, nil })
	if err != nil {
		t.Fatal(err)
	}
	_, err = g(f.ctx(t, supportClaims()), divIn{Divisor: 0})
	if !errors.Is(err, tools.ErrPolicy) || ran {
		t.Fatalf("err = %v ran = %v, want ErrPolicy and tool not run", err, ran)
	}
	if evs := f.sink.Events(); len(evs) != 1 || len(evs[0].Errors) != 1 {
		t.Fatalf("events = %+v", evs)
	}
	if _, err := g(f.ctx(t, supportClaims()), divIn{Divisor: 3}); err != nil {
		t.Fatalf("divisor 3: %v", err)
	}
}

// A misspelled field in a rule is an error when the guard is built.
func TestGuardTypeChecksAtStartup(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	type wrongIn struct {
		Denominator int `json:"denominator"`
	}
	_, err := tools.NewGuard(f.enf, tools.Tool{Name: "flaky.div"}, func(ctx context.Context, in wrongIn) (int, error) { return 0, nil })
	if !errors.Is(err, policy.ErrType) || !strings.Contains(err.Error(), "divisor") || !strings.Contains(err.Error(), "test.yaml:18:21") {
		t.Fatalf("err = %v, want a type error naming divisor at test.yaml:18:21", err)
	}
}

func TestToolErrorsPassThrough(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	sentinel := errors.New("ticket system down")
	g, _ := tools.Wrap(f.enf, tools.Tool{Name: "tickets.get"}, func(ctx context.Context, in ticketIn) (string, error) { return "", sentinel })
	_, err := g(f.ctx(t, supportClaims()), ticketIn{})
	if err != sentinel {
		t.Fatalf("err = %v, want the tool's own error unchanged", err)
	}
	evs := f.sink.Events()
	if len(evs) != 2 || evs[1].Outcome != audit.OutcomeError || evs[1].Error != "ticket system down" {
		t.Fatalf("events = %+v", evs)
	}
}

func TestToolPanicRecovered(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	g, _ := tools.Wrap(f.enf, tools.Tool{Name: "tickets.get"}, func(ctx context.Context, in ticketIn) (string, error) { panic("boom") })
	_, err := g(f.ctx(t, supportClaims()), ticketIn{})
	if !errors.Is(err, tools.ErrToolPanic) || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("err = %v", err)
	}
	evs := f.sink.Events()
	if len(evs) != 2 || evs[1].Outcome != audit.OutcomePanic {
		t.Fatalf("events = %+v", evs)
	}
}

// failingSink fails the nth Record call (1-based) and every one after it.
type failingSink struct {
	mu    sync.Mutex
	n     int
	calls int
	ok    audit.Memory
}

func (s *failingSink) Record(ctx context.Context, e audit.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.calls >= s.n {
		return errors.New("disk full")
	}
	return s.ok.Record(ctx, e)
}

func TestAuditFailureDenies(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name    string
		failAt  int
		wantRan bool
	}{
		{"decision record fails: tool does not run", 1, false},
		{"outcome record fails: output withheld", 2, true},
	} {
		sink := &failingSink{n: tt.failAt}
		f := newFixture(t, sink)
		ran := false
		g, _ := tools.Wrap(f.enf, tools.Tool{Name: "tickets.get"}, func(ctx context.Context, in ticketIn) (string, error) { ran = true; return "secret", nil })
		out, err := g(f.ctx(t, supportClaims()), ticketIn{})
		if !errors.Is(err, tools.ErrAuditFailed) || out != "" || ran != tt.wantRan {
			t.Errorf("%s: out=%q err=%v ran=%v", tt.name, out, err, ran)
		}
	}
}

// A cancelled caller context does not drop the audit events of a call: the sink
// gets a context that is not cancelled.
func TestCancelledContextStillAudited(t *testing.T) {
	t.Parallel()
	mem := &audit.Memory{}
	var sinkErrs []error
	sink := audit.SinkFunc(func(ctx context.Context, e audit.Event) error {
		sinkErrs = append(sinkErrs, ctx.Err())
		return mem.Record(ctx, e)
	})
	f := newFixture(t, sink)
	g, _ := tools.Wrap(f.enf, tools.Tool{Name: "tickets.get"}, getTicket)
	ctx, cancel := context.WithCancel(f.ctx(t, supportClaims()))
	cancel()
	_, err := g(ctx, ticketIn{})
	// Policy is not evaluated under a cancelled ctx: the call is denied, and recorded.
	if !errors.Is(err, tools.ErrPolicy) || mem.Len() != 1 || len(sinkErrs) != 1 || sinkErrs[0] != nil {
		t.Fatalf("err=%v events=%d sink ctx errs=%v", err, mem.Len(), sinkErrs)
	}
}

func TestConcurrentCallsOneEventPairEach(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	get, _ := tools.Wrap(f.enf, tools.Tool{Name: "tickets.get"}, getTicket)
	ctx := f.ctx(t, supportClaims())
	var wg sync.WaitGroup
	const n = 200
	for i := range n {
		wg.Go(func() {
			if _, err := get(ctx, ticketIn{ID: fmt.Sprint(i)}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	evs := f.sink.Events()
	if len(evs) != 2*n {
		t.Fatalf("want %d events, got %d", 2*n, len(evs))
	}
	ids := map[string]bool{}
	for _, e := range evs {
		if ids[e.ID] {
			t.Fatalf("duplicate event id %s", e.ID)
		}
		ids[e.ID] = true
	}
}

func TestNewEnforcerRequiresEverything(t *testing.T) {
	t.Parallel()
	_, err := tools.NewEnforcer(nil, nil, nil, tools.Options{})
	for _, want := range []string{"verifier", "policy", "sink"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to name the missing %s", err, want)
		}
	}
}
