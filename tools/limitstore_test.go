package tools_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
)

// fakeLimits is a LimitStore that answers as told and records what it was
// asked and what was undone.
type fakeLimits struct {
	mu               sync.Mutex
	takeErr, chgErr  error
	denyTake         bool
	taken, charged   []tools.LimitKey
	undone, refunded int
	amounts          []float64
}

func (f *fakeLimits) Take(_ context.Context, k tools.LimitKey, _ policy.Limit, _ time.Time) (func(), time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.takeErr != nil || f.denyTake {
		return nil, 3 * time.Second, f.takeErr
	}
	f.taken = append(f.taken, k)
	return func() { f.mu.Lock(); f.undone++; f.mu.Unlock() }, 0, nil
}

func (f *fakeLimits) Charge(_ context.Context, k tools.LimitKey, _ policy.Budget, amount float64, _ time.Time) (func(), time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.chgErr != nil {
		return nil, 0, f.chgErr
	}
	f.charged, f.amounts = append(f.charged, k), append(f.amounts, amount)
	return func() { f.mu.Lock(); f.refunded++; f.mu.Unlock() }, 0, nil
}

type staticVerifier struct{ c identity.Claims }

func (v staticVerifier) Verify(context.Context, string) (*identity.Claims, error) {
	c := v.c
	return &c, nil
}

const storePolicy = `
rules:
  - id: pay
    effect: permit
    tools: [pay]
    limit: {rate: 1/s, burst: 2, per: agent}
    budget: {expr: args.amount_cents, max: 100, window: 1h, per: tenant}
`

func storeGuard(t *testing.T, store tools.LimitStore, sink audit.Sink, ran *int) func(context.Context, payment) (string, error) {
	t.Helper()
	rules, err := policy.Parse("store.yaml", []byte(storePolicy))
	if err != nil {
		t.Fatal(err)
	}
	set, err := policy.NewSet(rules, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v := staticVerifier{identity.Claims{Issuer: "iss", Subject: "s", Agent: "bot", Tenant: "acme"}}
	enf, err := tools.NewEnforcer(v, set, sink, tools.Options{LimitStore: store})
	if err != nil {
		t.Fatal(err)
	}
	g, err := tools.Wrap(enf, tools.Tool{Name: "pay"}, func(context.Context, payment) (string, error) { *ran++; return "ok", nil })
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// Invariant: the store set in Options is the one asked, keyed by rule, tool
// and principal (budgets without the tool); a store that cannot answer denies
// with limits_unavailable and the tool does not run; whatever was taken before
// a denial, or before an audit failure, is given back.
func TestLimitStoreSeam(t *testing.T) {
	t.Parallel()
	ctx := identity.WithToken(context.Background(), "tok")
	down := errors.New("store down")
	t.Run("asked", func(t *testing.T) {
		f, ran := &fakeLimits{}, 0
		g := storeGuard(t, f, &audit.Memory{}, &ran)
		if _, err := g(ctx, payment{AmountCents: 7}); err != nil || ran != 1 {
			t.Fatal(err, ran)
		}
		wantL := tools.LimitKey{Rule: "pay", Tool: "pay", Principal: "agent:iss\x00bot"}
		wantB := tools.LimitKey{Rule: "pay", Principal: "tenant:iss\x00acme"}
		if len(f.taken) != 1 || f.taken[0] != wantL || len(f.charged) != 1 || f.charged[0] != wantB || f.amounts[0] != 7 {
			t.Fatalf("asked %+v %+v %v", f.taken, f.charged, f.amounts)
		}
		if f.undone+f.refunded != 0 {
			t.Fatal("undone after a call that ran")
		}
	})
	for name, tc := range map[string]struct {
		f          *fakeLimits
		sink       audit.Sink
		code       string
		sentinel   error
		undone     int
		retryAfter time.Duration
	}{
		"take error":    {&fakeLimits{takeErr: down}, &audit.Memory{}, string(tools.CodeLimitsUnavailable), tools.ErrLimitsUnavailable, 0, 0},
		"take denied":   {&fakeLimits{denyTake: true}, &audit.Memory{}, string(tools.CodeRateLimited), tools.ErrRateLimited, 0, 3 * time.Second},
		"charge error":  {&fakeLimits{chgErr: down}, &audit.Memory{}, string(tools.CodeLimitsUnavailable), tools.ErrLimitsUnavailable, 1, 0},
		"audit failure": {&fakeLimits{}, audit.SinkFunc(func(context.Context, audit.Event) error { return down }), string(tools.CodeAuditFailed), tools.ErrAuditFailed, 2, 0},
	} {
		t.Run(name, func(t *testing.T) {
			ran := 0
			g := storeGuard(t, tc.f, tc.sink, &ran)
			_, err := g(ctx, payment{AmountCents: 7})
			var de *tools.DeniedError
			if !errors.As(err, &de) || string(de.Code) != tc.code || !errors.Is(err, tc.sentinel) || ran != 0 {
				t.Fatalf("got %v (ran %d), want %s", err, ran, tc.code)
			}
			if tc.sentinel == tools.ErrLimitsUnavailable && !errors.Is(err, down) {
				t.Fatalf("cause lost: %v", err)
			}
			if de.RetryAfter != tc.retryAfter {
				t.Fatalf("retry %v, want %v", de.RetryAfter, tc.retryAfter)
			}
			if got := tc.f.undone + tc.f.refunded; got != tc.undone {
				t.Fatalf("undone %d, want %d", got, tc.undone)
			}
		})
	}
}
