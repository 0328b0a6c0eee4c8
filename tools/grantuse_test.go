package tools_test

import (
	"context"
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

// TestSingleUseGrantSharedStore: instances sharing one one-time-use store
// (ApprovalOptions.Used, the store token replay uses) spend a single-use grant
// exactly once, however many calls race for it on however many instances; the
// grant's use and a token id of the same value never collide.
func TestSingleUseGrantSharedStore(t *testing.T) {
	t.Parallel()
	now := func() time.Time { return time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC) }
	key, _ := identity.GenerateKey(jose.EdDSA, "model-key")
	iss, _ := identity.NewIssuer("https://id.example", key, identity.IssuerOptions{Now: now})
	keys, _ := identity.NewKeySet(iss.PublicKey())
	akey, _ := identity.GenerateKey(jose.ES256, "approver-key")
	approver, err := tools.NewGrantIssuer("https://approvals.example", akey, identity.IssuerOptions{Now: now, TTL: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	akeys, _ := identity.NewKeySet(approver.PublicKey())
	rules, _ := policy.Parse("p.yaml", []byte(financePolicy))
	set, err := policy.NewSet(rules, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	shared := identity.NewMemoryStore(identity.MemoryStoreOptions{Now: now})
	var paid atomic.Int32
	var pays []func(context.Context, payment) (string, error)
	for range 3 {
		v, _ := identity.NewVerifier("https://id.example", "modelguard", keys, identity.VerifierOptions{Now: now})
		gv, _ := tools.NewGrantVerifier("https://approvals.example", "modelguard", akeys, identity.VerifierOptions{Now: now})
		enf, err := tools.NewEnforcer(v, set, &audit.Memory{}, tools.Options{Now: now,
			Approvals: tools.ApprovalOptions{Verifier: gv, Used: shared}})
		if err != nil {
			t.Fatal(err)
		}
		pay, err := tools.Wrap(enf, tools.Tool{Name: "payments.initiate"}, func(ctx context.Context, p payment) (string, error) {
			paid.Add(1)
			return "ok", nil
		})
		if err != nil {
			t.Fatal(err)
		}
		pays = append(pays, pay)
	}
	p := payment{AmountCents: 12000, Payee: "ACME"}
	digest, _ := audit.Digest(p)
	for round := range 5 {
		paid.Store(0)
		grant, err := tools.MintGrant(approver, tools.GrantSpec{ModelIssuer: "https://id.example", Subject: "model:fin-1",
			Audience: []string{"modelguard"}, Tools: []string{"payments.initiate"}, ArgsDigest: digest, Approver: "alice@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for i := range 24 {
			wg.Go(func() {
				tok, _ := iss.Mint(identity.Claims{Subject: "model:fin-1", Audience: []string{"modelguard"}, Agent: "finance-bot"})
				ctx := tools.WithGrant(identity.WithToken(context.Background(), tok), grant)
				_, err := pays[i%len(pays)](ctx, p)
				if err != nil && code(err) != tools.CodeApprovalRequired {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if paid.Load() != 1 {
			t.Fatalf("round %d: a single-use grant paid %d times across 3 instances", round, paid.Load())
		}
	}
}
