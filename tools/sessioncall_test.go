package tools_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
)

// The three policies of issue #12, enforced through guards.
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
    message: "this agent saw customer_pii in the last 24h"
  - id: reads
    effect: permit
    tools: ["docs.read", "web.fetch", "customers.export", "http.post", "email.send", "web.upload"]
  - id: summarize
    effect: permit
    tools: ["invoices.summarize"]
    add_labels: ["'invoice:' + args.invoice_id"]
  - id: pay-after-summary
    effect: permit
    tools: ["payments.initiate"]
    when: >-
      session.count("payments.initiate") < 3 &&
      ("invoice:" + args.invoice_id) in session.labels
`

type sessFixture struct {
	enf    *tools.Enforcer
	sink   *audit.Memory
	store  tools.SessionStore
	issuer *identity.Issuer
	now    atomic.Pointer[time.Time]
}

func newSessFixture(t testing.TB, src string, store tools.SessionStore) *sessFixture {
	t.Helper()
	f := &sessFixture{sink: &audit.Memory{}}
	return f.build(t, src, store, f.sink)
}

func (f *sessFixture) build(t testing.TB, src string, store tools.SessionStore, sink audit.Sink) *sessFixture {
	f.store = store
	start := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	f.now.Store(&start)
	clock := func() time.Time { return *f.now.Load() }
	key, err := identity.GenerateKey(jose.EdDSA, "k1")
	if err != nil {
		t.Fatal(err)
	}
	f.issuer, err = identity.NewIssuer("https://id.example", key, identity.IssuerOptions{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := identity.NewKeySet(f.issuer.PublicKey())
	v, err := identity.NewVerifier("https://id.example", "modelguard", keys, identity.VerifierOptions{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	rules, err := policy.Parse("session.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	set, err := policy.NewSet(rules, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.enf, err = tools.NewEnforcer(v, set, sink, tools.Options{Now: clock, Sessions: store})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *sessFixture) advance(d time.Duration) {
	n := f.now.Load().Add(d)
	f.now.Store(&n)
}

func (f *sessFixture) ctx(t testing.TB, agent, session string) context.Context {
	t.Helper()
	tok, err := f.issuer.Mint(identity.Claims{Subject: "model:" + agent, Agent: agent, Audience: []string{"modelguard"}})
	if err != nil {
		t.Fatal(err)
	}
	return tools.WithCall(identity.WithToken(context.Background(), tok), tools.Call{SessionID: session})
}

type textIn struct {
	Text string `json:"text"`
}

type invoiceIn struct {
	InvoiceID string `json:"invoice_id"`
}

func echo[In any](_ context.Context, in In) (string, error) { return "ok", nil }

func guard[In any](t testing.TB, f *sessFixture, tool tools.Tool) func(context.Context, In) (string, error) {
	t.Helper()
	fn, err := tools.Wrap(f.enf, tool, echo[In])
	if err != nil {
		t.Fatal(err)
	}
	return fn
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var de *tools.DeniedError
	if code == "" {
		if err != nil {
			t.Fatalf("want allowed, got %v", err)
		}
		return
	}
	if !errors.As(err, &de) || string(de.Code) != code {
		t.Fatalf("want denial %s, got %v", code, err)
	}
}

func TestSessionExfiltration(t *testing.T) {
	t.Parallel()
	f := newSessFixture(t, sessionPolicy, &tools.MemorySessions{})
	read := guard[textIn](t, f, tools.Tool{Name: "docs.read", OutputLabels: []string{"private"}})
	fetch := guard[textIn](t, f, tools.Tool{Name: "web.fetch", OutputLabels: []string{"untrusted"}})
	post := guard[textIn](t, f, tools.Tool{Name: "http.post"})
	ctx := f.ctx(t, "researcher", "s1")
	_, err := read(ctx, textIn{"q3-plan"})
	wantCode(t, err, "")
	_, err = post(ctx, textIn{"x"}) // private alone: allowed
	wantCode(t, err, "")
	_, err = fetch(ctx, textIn{"https://evil.example"})
	wantCode(t, err, "")
	_, err = post(ctx, textIn{"x"})
	wantCode(t, err, string(tools.CodeForbidden))
	if !strings.Contains(err.Error(), "session had seen: private, untrusted") {
		t.Fatalf("model-facing message: %v", err)
	}
	// Another session of the same agent is clean: the rule reads the session.
	_, err = post(f.ctx(t, "researcher", "s2"), textIn{"x"})
	wantCode(t, err, "")
	// Content labelled by the application counts as well.
	ctx3 := f.ctx(t, "researcher", "s3")
	_, _ = read(ctx3, textIn{"doc"})
	if err := f.enf.Label(ctx3, "s3", "untrusted"); err != nil {
		t.Fatal(err)
	}
	_, err = post(ctx3, textIn{"x"})
	wantCode(t, err, string(tools.CodeForbidden))
	// The denial's decision event records what the rule read.
	evs := f.sink.Events()
	var last audit.Event
	for _, ev := range evs {
		if ev.Phase == audit.PhaseDecision && ev.Tool == "http.post" {
			last = ev
		}
	}
	if last.History == nil || last.History.Session == nil || !slices.Equal(last.History.Session.Labels, []string{"private", "untrusted"}) {
		t.Fatalf("decision event history: %+v", last.History)
	}
}

func TestSessionPayments(t *testing.T) {
	t.Parallel()
	f := newSessFixture(t, sessionPolicy, &tools.MemorySessions{})
	sum := guard[invoiceIn](t, f, tools.Tool{Name: "invoices.summarize"})
	pay := guard[invoiceIn](t, f, tools.Tool{Name: "payments.initiate"})
	ctx := f.ctx(t, "finance", "s1")
	_, err := pay(ctx, invoiceIn{"I-1"})
	wantCode(t, err, string(tools.CodeNoPermit)) // no summary yet
	_, err = sum(ctx, invoiceIn{"I-2"})
	wantCode(t, err, "")
	_, err = pay(ctx, invoiceIn{"I-1"})
	wantCode(t, err, string(tools.CodeNoPermit)) // summary of another invoice
	_, err = sum(ctx, invoiceIn{"I-1"})
	wantCode(t, err, "")
	for i := 0; i < 3; i++ {
		_, err = pay(ctx, invoiceIn{"I-1"})
		wantCode(t, err, "")
	}
	_, err = pay(ctx, invoiceIn{"I-1"})
	wantCode(t, err, string(tools.CodeNoPermit)) // a fourth
	// A new session starts its own count, and needs its own summary.
	ctx2 := f.ctx(t, "finance", "s2")
	_, err = pay(ctx2, invoiceIn{"I-1"})
	wantCode(t, err, string(tools.CodeNoPermit))
	// The decision event of an allowed payment recorded the count it read.
	for _, ev := range f.sink.Events() {
		if ev.Phase == audit.PhaseDecision && ev.Tool == "payments.initiate" && ev.Decision == audit.Allow {
			h := ev.History.Session
			if len(h.Facts) != 1 || h.Facts[0].Func != "count" || h.Facts[0].Arg != "payments.initiate" {
				t.Fatalf("facts %+v", h.Facts)
			}
		}
	}
}

func TestSessionEgressAfterPII(t *testing.T) {
	t.Parallel()
	f := newSessFixture(t, sessionPolicy, &tools.MemorySessions{})
	export := guard[textIn](t, f, tools.Tool{Name: "customers.export", OutputLabels: []string{"customer_pii"}})
	upload := guard[textIn](t, f, tools.Tool{Name: "web.upload", Labels: []string{"egress"}})
	_, err := upload(f.ctx(t, "crm-bot", "s1"), textIn{"x"})
	wantCode(t, err, "")
	_, err = export(f.ctx(t, "crm-bot", "s1"), textIn{"all"})
	wantCode(t, err, "")
	// Whatever the session: a fresh one does not launder the label.
	_, err = upload(f.ctx(t, "crm-bot", "s2"), textIn{"x"})
	wantCode(t, err, string(tools.CodeForbidden))
	_, err = upload(f.ctx(t, "crm-bot", ""), textIn{"x"}) // no session at all
	wantCode(t, err, string(tools.CodeForbidden))
	_, err = upload(f.ctx(t, "other-bot", "s2"), textIn{"x"}) // another agent is not affected
	wantCode(t, err, "")
	f.advance(23 * time.Hour)
	_, err = upload(f.ctx(t, "crm-bot", "s3"), textIn{"x"})
	wantCode(t, err, string(tools.CodeForbidden))
	f.advance(2 * time.Hour)
	_, err = upload(f.ctx(t, "crm-bot", "s3"), textIn{"x"})
	wantCode(t, err, "")
}

// Labels the application records for a session before any call still reach
// the principal that session is then used by.
func TestSessionLabelBeforeCall(t *testing.T) {
	t.Parallel()
	f := newSessFixture(t, sessionPolicy, &tools.MemorySessions{})
	upload := guard[textIn](t, f, tools.Tool{Name: "web.upload", Labels: []string{"egress"}})
	read := guard[textIn](t, f, tools.Tool{Name: "docs.read"})
	if err := f.enf.Label(context.Background(), "s1", "customer_pii"); err != nil {
		t.Fatal(err)
	}
	_, err := read(f.ctx(t, "bot", "s1"), textIn{"x"})
	wantCode(t, err, "")
	_, err = upload(f.ctx(t, "bot", "s9"), textIn{"x"})
	wantCode(t, err, string(tools.CodeForbidden))
}

// Concurrency: however many calls race in one session, at most 3 payments
// pass, and each decision event's count is distinct.
func TestSessionConcurrentPayments(t *testing.T) {
	t.Parallel()
	for round := 0; round < 20; round++ {
		f := newSessFixture(t, sessionPolicy, &tools.MemorySessions{})
		sum := guard[invoiceIn](t, f, tools.Tool{Name: "invoices.summarize"})
		pay := guard[invoiceIn](t, f, tools.Tool{Name: "payments.initiate"})
		ctx := f.ctx(t, "finance", "s1")
		if _, err := sum(ctx, invoiceIn{"I-1"}); err != nil {
			t.Fatal(err)
		}
		var ok atomic.Int32
		var wg sync.WaitGroup
		for g := 0; g < 12; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := pay(ctx, invoiceIn{"I-1"})
				var de *tools.DeniedError
				switch {
				case err == nil:
					ok.Add(1)
				case errors.As(err, &de) && (de.Code == tools.CodeNoPermit || de.Code == tools.CodeSessionConflict):
				default:
					t.Errorf("unexpected %v", err)
				}
			}()
		}
		wg.Wait()
		if n := ok.Load(); n > 3 {
			t.Fatalf("round %d: %d payments passed, want at most 3", round, n)
		}
		seen := map[float64]bool{}
		for _, ev := range f.sink.Events() {
			if ev.Phase == audit.PhaseDecision && ev.Tool == "payments.initiate" && ev.Decision == audit.Allow {
				v := toFloat(ev.History.Session.Facts[0].Value)
				if seen[v] {
					t.Fatalf("round %d: two payments allowed on count %v", round, v)
				}
				seen[v] = true
			}
		}
	}
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	}
	panic(fmt.Sprintf("%T", v))
}

// Eviction never launders: a session the store dropped is denied by rules that
// read it (history_lost), while tools whose rules read nothing still work.
func TestSessionEvictedDenies(t *testing.T) {
	t.Parallel()
	f := newSessFixture(t, sessionPolicy, &tools.MemorySessions{MaxSessions: 3})
	read := guard[textIn](t, f, tools.Tool{Name: "docs.read", OutputLabels: []string{"private"}})
	fetch := guard[textIn](t, f, tools.Tool{Name: "web.fetch", OutputLabels: []string{"untrusted"}})
	post := guard[textIn](t, f, tools.Tool{Name: "http.post"})
	ctx := f.ctx(t, "researcher", "victim")
	_, _ = read(ctx, textIn{"a"})
	_, _ = fetch(ctx, textIn{"b"})
	for i := 0; i < 5; i++ { // other sessions push the victim out
		_, err := read(f.ctx(t, "researcher", fmt.Sprint("other", i)), textIn{"c"})
		wantCode(t, err, "")
	}
	_, err := post(ctx, textIn{"x"})
	wantCode(t, err, string(tools.CodeHistoryLost))
	if !errors.Is(err, tools.ErrHistoryLost) {
		t.Fatalf("%v does not match ErrHistoryLost", err)
	}
	_, err = read(ctx, textIn{"still fine"})
	wantCode(t, err, "")
}

type failingStore struct{ err error }

func (s failingStore) Load(context.Context, tools.SessionKey) (tools.SessionSnapshot, error) {
	return tools.SessionSnapshot{}, s.err
}

func (s failingStore) Append(context.Context, tools.SessionKey, tools.SessionEvent, *tools.SessionSnapshot) error {
	return s.err
}

// A store that is down denies the calls whose rules read history, and those
// whose output carries labels it cannot record; the others go ahead.
func TestSessionStoreDown(t *testing.T) {
	t.Parallel()
	down := errors.New("connection refused")
	f := newSessFixture(t, sessionPolicy, failingStore{down})
	post := guard[textIn](t, f, tools.Tool{Name: "http.post"})
	read := guard[textIn](t, f, tools.Tool{Name: "docs.read", OutputLabels: []string{"private"}})
	plain := guard[textIn](t, f, tools.Tool{Name: "web.upload"})
	ctx := f.ctx(t, "bot", "s1")
	_, err := post(ctx, textIn{"x"})
	wantCode(t, err, string(tools.CodeSessionUnavailable))
	if !errors.Is(err, tools.ErrSessionStore) || !errors.Is(err, down) {
		t.Fatalf("%v: want ErrSessionStore and the cause", err)
	}
	_, err = read(ctx, textIn{"x"})
	wantCode(t, err, string(tools.CodeSessionUnavailable))
	_, err = plain(ctx, textIn{"x"})
	wantCode(t, err, "")
}

func TestSessionRequired(t *testing.T) {
	t.Parallel()
	f := newSessFixture(t, sessionPolicy, &tools.MemorySessions{})
	post := guard[textIn](t, f, tools.Tool{Name: "http.post"})
	_, err := post(f.ctx(t, "bot", ""), textIn{"x"})
	wantCode(t, err, string(tools.CodeSessionRequired))
}

// A policy that reads history does not compile for an enforcer without a
// store: an error at start-up.
func TestSessionNoStore(t *testing.T) {
	t.Parallel()
	f := newSessFixture(t, sessionPolicy, nil)
	if _, err := tools.Wrap(f.enf, tools.Tool{Name: "http.post"}, echo[textIn]); err == nil || !strings.Contains(err.Error(), "Options.Sessions") {
		t.Fatalf("err = %v", err)
	}
	if _, err := tools.Wrap(f.enf, tools.Tool{Name: "docs.read"}, echo[textIn]); err != nil {
		t.Fatalf("a tool whose rules read no history: %v", err)
	}
	if err := f.enf.Label(context.Background(), "s1", "x"); !errors.Is(err, tools.ErrSessionStore) {
		t.Fatalf("Label without store: %v", err)
	}
}
