package approvalpg_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"sync/atomic"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
	"github.com/modelguard/modelguard/tools/approvalpg"
)

func pool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	dsn := os.Getenv("MODELGUARD_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("set MODELGUARD_TEST_POSTGRES (see .ci/postgres) to run PostgreSQL tests")
	}
	p, err := pgxpool.New(context.Background(), dsn)
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

func queue(t *testing.T, p *pgxpool.Pool, pre string) *approvalpg.Queue {
	t.Helper()
	q, err := approvalpg.New(context.Background(), p, approvalpg.Options{Prefix: pre})
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func TestQueueLifecycle(t *testing.T) {
	t.Parallel()
	q := queue(t, pool(t), prefix())
	ctx := context.Background()
	req := tools.ApprovalRequest{Issuer: "i", Subject: "s", Tool: "payments.initiate", ArgsDigest: "sha256:aa",
		Args: []byte(`{"amount_cents":1}`), Reason: "r", Rules: []string{"pay"}}
	a, err := q.Request(ctx, req)
	if err != nil || a.ID == "" || a.Status != tools.StatusPending || string(a.Args) != `{"amount_cents": 1}` {
		t.Fatalf("Request = %+v, %v", a, err)
	}
	b, _ := q.Request(ctx, req)
	if b.ID != a.ID {
		t.Fatalf("the same call filed twice: %s, %s", a.ID, b.ID)
	}
	if list, _ := q.List(ctx, tools.StatusPending); len(list) != 1 {
		t.Fatalf("pending = %d", len(list))
	}
	if err := q.Approve(ctx, a.ID, "alice", "grant-token"); err != nil {
		t.Fatal(err)
	}
	if err := q.Deny(ctx, a.ID, "bob", "no"); !errors.Is(err, tools.ErrDecided) {
		t.Fatalf("deciding twice: %v", err)
	}
	if err := q.Approve(ctx, "apr-missing", "alice", "x"); !errors.Is(err, tools.ErrNoRequest) {
		t.Fatalf("missing request: %v", err)
	}
	grants, err := q.Grants(ctx, "i", "s", "payments.initiate")
	if err != nil || len(grants) != 1 || grants[0] != "grant-token" {
		t.Fatalf("Grants = %v, %v", grants, err)
	}
	got, err := q.Get(ctx, a.ID)
	if err != nil || got.Approver != "alice" || got.Decided.IsZero() {
		t.Fatalf("Get = %+v, %v", got, err)
	}
}

type payment struct {
	AmountCents int64 `json:"amount_cents"`
}

type instance struct {
	pay func(context.Context, payment) (string, error)
}

// The finance flow across two instances: one files the request, a human approves
// through the shared queue, the other instance runs the call once, and a replay
// on either is denied.
func TestApprovalAcrossInstances(t *testing.T) {
	t.Parallel()
	pre := prefix()
	mkey, _ := identity.GenerateKey(jose.EdDSA, "m")
	miss, _ := identity.NewIssuer("https://id", mkey, identity.IssuerOptions{})
	mkeys, _ := identity.NewKeySet(miss.PublicKey())
	akey, _ := identity.GenerateKey(jose.EdDSA, "a")
	aiss, _ := tools.NewGrantIssuer("https://approvals", akey, identity.IssuerOptions{})
	akeys, _ := identity.NewKeySet(aiss.PublicKey())
	rules, _ := policy.Parse("p.yaml", []byte("rules:\n  - {id: pay, effect: permit, tools: [payments.initiate], require: [approval]}\n"))
	set, _ := policy.NewSet(rules, policy.Options{})
	var paid atomic.Int32
	// Instances spend single-use grants in the one-time-use store they share
	// (in production identity/postgres; here one in-memory store stands in).
	used := identity.NewMemoryStore(identity.MemoryStoreOptions{})
	newInstance := func(q tools.Approvals) instance {
		v, _ := identity.NewVerifier("https://id", "svc", mkeys, identity.VerifierOptions{})
		gv, _ := tools.NewGrantVerifier("https://approvals", "svc", akeys, identity.VerifierOptions{})
		enf, err := tools.NewEnforcer(v, set, &audit.Memory{}, tools.Options{Approvals: tools.ApprovalOptions{Verifier: gv, Queue: q, Used: used}})
		if err != nil {
			t.Fatal(err)
		}
		pay, err := tools.Wrap(enf, tools.Tool{Name: "payments.initiate"}, func(ctx context.Context, p payment) (string, error) {
			paid.Add(1)
			return "paid", nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return instance{pay: pay}
	}
	qa, qb := queue(t, pool(t), pre), queue(t, pool(t), pre)
	a, b := newInstance(qa), newInstance(qb)
	tok, _ := miss.Mint(identity.Claims{Subject: "model:fin", Audience: []string{"svc"}})
	ctx := identity.WithToken(context.Background(), tok)

	_, err := a.pay(ctx, payment{AmountCents: 500})
	var de *tools.DeniedError
	if !errors.As(err, &de) || de.Approval == nil {
		t.Fatalf("instance A without grant: %v", err)
	}
	req := *de.Approval
	grant, err := tools.MintGrant(aiss, tools.GrantSpec{ModelIssuer: req.Issuer, Subject: req.Subject, Audience: []string{"svc"}, Tools: []string{req.Tool},
		ArgsDigest: req.ArgsDigest, Approver: "alice", Request: req.ID})
	if err != nil {
		t.Fatal(err)
	}
	if err := queue(t, pool(t), pre).Approve(context.Background(), req.ID, "alice", grant); err != nil {
		t.Fatal(err)
	}
	if out, err := b.pay(ctx, payment{AmountCents: 500}); err != nil || out != "paid" {
		t.Fatalf("instance B with the approval made elsewhere: %q %v", out, err)
	}
	for name, inst := range map[string]instance{"A": a, "B": b} {
		if _, err := inst.pay(ctx, payment{AmountCents: 500}); !errors.Is(err, tools.ErrApprovalRequired) {
			t.Fatalf("replay on %s: %v", name, err)
		}
	}
	if paid.Load() != 1 {
		t.Fatalf("paid %d times", paid.Load())
	}
}

// With the database gone, a call that needs approval is denied.
func TestDatabaseDownDenies(t *testing.T) {
	t.Parallel()
	p := pool(t)
	q := queue(t, p, prefix())
	p.Close()
	if _, err := q.Grants(context.Background(), "i", "s", "t"); err == nil {
		t.Fatal("Grants on a closed pool: no error")
	}
}
