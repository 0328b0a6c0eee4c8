package sessionpg_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
	"github.com/modelguard/modelguard/tools/sessionpg"
)

func dsn(t testing.TB) string {
	t.Helper()
	d := os.Getenv("MODELGUARD_TEST_POSTGRES")
	if d == "" {
		t.Skip("set MODELGUARD_TEST_POSTGRES to a PostgreSQL DSN (see .ci/postgres) to run PostgreSQL tests")
	}
	return d
}

// roundTrips counts the queries and batches sent: each is one round trip.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (r *roundTrips) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	r.n.Add(1)
	return ctx
}
func (r *roundTrips) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (r *roundTrips) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

func pool(t testing.TB, rt *roundTrips) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(dsn(t))
	if err != nil {
		t.Fatal(err)
	}
	if rt != nil {
		cfg.ConnConfig.Tracer = rt
	}
	p, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func prefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "t" + hex.EncodeToString(b[:]) + "_"
}

func store(t testing.TB, p *pgxpool.Pool, prefix string) *sessionpg.Store {
	t.Helper()
	s, err := sessionpg.New(context.Background(), p, sessionpg.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The store answers as the in-memory store does over random sequences of
// appends and labels: same labels (and order), counts, versions' changes,
// principals reached by sessions' earlier labels.
func TestStoreMatchesMemory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for seed := uint64(0); seed < 6; seed++ {
		pg := store(t, pool(t, nil), prefix())
		mem := &tools.MemorySessions{}
		r := mrand.New(mrand.NewPCG(seed, 7))
		now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
		for i := 0; i < 60; i++ {
			now = now.Add(time.Duration(r.IntN(90)) * time.Second)
			k := tools.SessionKey{Session: fmt.Sprint("s", r.IntN(4)), Principal: fmt.Sprint("p", r.IntN(3))}
			if r.IntN(5) == 0 {
				k.Principal = "" // the application labels a session
			}
			ev := tools.SessionEvent{Time: now, Tool: []string{"", "docs.read", "http.post"}[r.IntN(3)], Approved: r.IntN(4) == 0}
			if k.Principal == "" {
				ev.Tool = ""
			}
			if r.IntN(2) == 0 {
				ev.Labels = []string{[]string{"private", "untrusted", "customer_pii"}[r.IntN(3)]}
			}
			if err := errors.Join(pg.Append(ctx, k, ev, nil), mem.Append(ctx, k, ev, nil)); err != nil {
				t.Fatal(err)
			}
			a, errA := pg.Load(ctx, k)
			b, errB := mem.Load(ctx, k)
			if errA != nil || errB != nil {
				t.Fatal(errA, errB)
			}
			for _, pair := range [][2]tools.SessionHistory{{a.Session, b.Session}, {a.Principal, b.Principal}} {
				x, y := pair[0], pair[1]
				if !slices.Equal(x.Labels, y.Labels) || x.Calls != y.Calls || len(x.Events) != len(y.Events) ||
					!x.First.Equal(y.First) {
					t.Fatalf("seed %d step %d %+v:\npg  %+v\nmem %+v", seed, i, k, x, y)
				}
				for j := range x.LastSeen {
					if !x.LastSeen[j].Equal(y.LastSeen[j]) {
						t.Fatalf("seed %d step %d: last seen %v vs %v", seed, i, x.LastSeen, y.LastSeen)
					}
				}
			}
		}
	}
}

// Compare-and-append: an append checked against a stale snapshot is refused,
// and nothing of it is written.
func TestStoreConflict(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s := store(t, pool(t, nil), prefix())
	k := tools.SessionKey{Session: "s1", Principal: "p1"}
	snap, err := s.Load(ctx, k)
	if err != nil {
		t.Fatal(err)
	}
	ev := tools.SessionEvent{Time: time.Now(), Tool: "t", Labels: []string{"x"}}
	if err := s.Append(ctx, k, ev, &snap); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, k, ev, &snap); !errors.Is(err, tools.ErrSessionConflict) {
		t.Fatalf("stale append: %v", err)
	}
	now, _ := s.Load(ctx, k)
	if now.Session.Calls != 1 || now.Principal.Calls != 1 || now.SessionVersion != snap.SessionVersion+1 {
		t.Fatalf("after a refused append: %+v", now)
	}
	// A check of the session only ignores the principal's changes.
	sOnly := now
	sOnly.Principal = tools.SessionHistory{}
	if err := s.Append(ctx, tools.SessionKey{Session: "other", Principal: "p1"}, ev, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Append(ctx, k, ev, &sOnly); err != nil {
		t.Fatalf("session-only check: %v", err)
	}
}

const policySrc = `
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
  - id: reads
    effect: permit
    tools: ["docs.read", "web.fetch", "customers.export", "http.post", "web.upload"]
  - id: summarize
    effect: permit
    tools: ["invoices.summarize"]
    add_labels: ["'invoice:' + args.invoice_id"]
  - id: pay-after-summary
    effect: permit
    tools: ["payments.initiate"]
    when: session.count("payments.initiate") < 3 && ("invoice:" + args.invoice_id) in session.labels
`

type verifier struct{}

func (verifier) Verify(_ context.Context, tok string) (*identity.Claims, error) {
	return &identity.Claims{Issuer: "iss", Subject: "model:" + tok, Agent: tok}, nil
}

type text struct {
	Text string `json:"text"`
}

type invoice struct {
	InvoiceID string `json:"invoice_id"`
}

func enforcer(t testing.TB, s tools.SessionStore) *tools.Enforcer {
	t.Helper()
	rules, err := policy.Parse("p.yaml", []byte(policySrc))
	if err != nil {
		t.Fatal(err)
	}
	set, err := policy.NewSet(rules, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := tools.NewEnforcer(verifier{}, set, &audit.Memory{}, tools.Options{Sessions: s})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func wrap[In any](t testing.TB, e *tools.Enforcer, tool tools.Tool) func(context.Context, In) (string, error) {
	t.Helper()
	fn, err := tools.Wrap(e, tool, func(context.Context, In) (string, error) { return "ok", nil })
	if err != nil {
		t.Fatal(err)
	}
	return fn
}

func call(agent, session string) context.Context {
	return tools.WithCall(identity.WithToken(context.Background(), agent), tools.Call{SessionID: session})
}

func code(err error) tools.Code {
	var de *tools.DeniedError
	if errors.As(err, &de) {
		return de.Code
	}
	if err != nil {
		return tools.Code(err.Error())
	}
	return ""
}

// The three policies, on two instances sharing one database: what
// one instance recorded, the other enforces; each call costs at most one
// round trip to load and one to record.
func TestPoliciesAcrossInstances(t *testing.T) {
	t.Parallel()
	var rt roundTrips
	pfx := prefix()
	a := enforcer(t, store(t, pool(t, &rt), pfx))
	b := enforcer(t, store(t, pool(t, &rt), pfx))
	readA := wrap[text](t, a, tools.Tool{Name: "docs.read", OutputLabels: []string{"private"}})
	fetchB := wrap[text](t, b, tools.Tool{Name: "web.fetch", OutputLabels: []string{"untrusted"}})
	postA := wrap[text](t, a, tools.Tool{Name: "http.post"})
	rt.n.Store(0)
	if _, err := readA(call("r", "s1"), text{}); err != nil {
		t.Fatal(err)
	}
	if n := rt.n.Load(); n != 1 {
		t.Fatalf("a call whose rules read nothing took %d round trips, want 1 (the record)", n)
	}
	if _, err := postA(call("r", "s1"), text{}); err != nil {
		t.Fatal(err)
	}
	if _, err := fetchB(call("r", "s1"), text{}); err != nil {
		t.Fatal(err)
	}
	rt.n.Store(0)
	if _, err := postA(call("r", "s1"), text{}); code(err) != tools.CodeForbidden {
		t.Fatalf("post after private+untrusted: %v", err)
	}
	if n := rt.n.Load(); n != 1 {
		t.Fatalf("a denied history-reading call took %d round trips, want 1 (the load)", n)
	}

	export := wrap[text](t, b, tools.Tool{Name: "customers.export", OutputLabels: []string{"customer_pii"}})
	upload := wrap[text](t, a, tools.Tool{Name: "web.upload", Labels: []string{"egress"}})
	if _, err := upload(call("crm", "s2"), text{}); err != nil {
		t.Fatal(err)
	}
	if _, err := export(call("crm", "s2"), text{}); err != nil {
		t.Fatal(err)
	}
	if _, err := upload(call("crm", "s3"), text{}); code(err) != tools.CodeForbidden {
		t.Fatalf("egress after pii, another session: %v", err)
	}

	sum := wrap[invoice](t, a, tools.Tool{Name: "invoices.summarize"})
	payA := wrap[invoice](t, a, tools.Tool{Name: "payments.initiate"})
	payB := wrap[invoice](t, b, tools.Tool{Name: "payments.initiate"})
	if _, err := payA(call("fin", "s4"), invoice{"I-1"}); code(err) != tools.CodeNoPermit {
		t.Fatalf("pay before summary: %v", err)
	}
	if _, err := sum(call("fin", "s4"), invoice{"I-1"}); err != nil {
		t.Fatal(err)
	}
	rt.n.Store(0)
	if _, err := payB(call("fin", "s4"), invoice{"I-1"}); err != nil {
		t.Fatal(err)
	}
	if n := rt.n.Load(); n != 2 {
		t.Fatalf("an allowed history-reading call took %d round trips, want 2 (load, record)", n)
	}
	// Concurrently, on both instances: at most 3 in all.
	var ok atomic.Int32
	var wg sync.WaitGroup
	for g := 0; g < 10; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pay := payA
			if g%2 == 1 {
				pay = payB
			}
			_, err := pay(call("fin", "s4"), invoice{"I-1"})
			switch code(err) {
			case "":
				ok.Add(1)
			case tools.CodeNoPermit, tools.CodeSessionConflict:
			default:
				t.Errorf("payment: %v", err)
			}
		}()
	}
	wg.Wait()
	if n := ok.Load(); n != 2 {
		t.Fatalf("%d more payments passed, want exactly 2 (3 in all)", n)
	}
}

// The database down denies the calls whose rules read history and those
// whose output carries labels; the others go ahead.
func TestStoreDown(t *testing.T) {
	t.Parallel()
	p := pool(t, nil)
	s := store(t, p, prefix())
	e := enforcer(t, s)
	post := wrap[text](t, e, tools.Tool{Name: "http.post"})
	read := wrap[text](t, e, tools.Tool{Name: "docs.read", OutputLabels: []string{"private"}})
	fetch := wrap[text](t, e, tools.Tool{Name: "web.fetch"})
	p.Close()
	if _, err := post(call("r", "s1"), text{}); code(err) != tools.CodeSessionUnavailable || !errors.Is(err, tools.ErrSessionStore) {
		t.Fatalf("reading rule, store down: %v", err)
	}
	if _, err := read(call("r", "s1"), text{}); code(err) != tools.CodeSessionUnavailable {
		t.Fatalf("labelled output, store down: %v", err)
	}
	if _, err := fetch(call("r", "s1"), text{}); err != nil {
		t.Fatalf("nothing read, nothing labelled: %v", err)
	}
	var zero *sessionpg.Store
	if _, err := zero.Load(context.Background(), tools.SessionKey{}); err == nil {
		t.Fatal("nil store loaded")
	}
}
