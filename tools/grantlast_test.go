package tools_test

import (
	"context"
	"testing"
	"time"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/tools"
)

// A single-use grant is spent only after every other control has passed: a
// rate-limit denial after the grant check leaves the human approval unspent, for
// every number of denied attempts, and it is spent once the call goes ahead.
func TestGrantSpentLast(t *testing.T) {
	t.Parallel()
	for _, denied := range []int{1, 2, 5} {
		w := newWorld(t, `
rules:
  - {id: pay, effect: permit, tools: [payments.initiate], require: [approval], limit: {rate: 1/s, burst: 1}}
`, nil)
		paid := 0
		pay, _ := tools.Wrap(w.enf, tools.Tool{Name: "payments.initiate"}, func(ctx context.Context, p payment) (string, error) { paid++; return "", nil })
		ctx := w.ctx(t, "model:fin", "finance-bot")
		mint := func(p payment) string {
			digest, _ := audit.Digest(&p)
			g, _ := tools.MintGrant(w.approver, tools.GrantSpec{ModelIssuer: "https://id.example", Subject: "model:fin", Audience: []string{"modelguard"},
				Tools: []string{"payments.initiate"}, ArgsDigest: digest, Approver: "alice", Expiry: w.now.Add(time.Minute)})
			return g
		}
		a, b := payment{AmountCents: 1, Payee: "A"}, payment{AmountCents: 2, Payee: "B"}
		if _, err := pay(tools.WithGrant(ctx, mint(a)), a); err != nil {
			t.Fatal(err)
		}
		gb := mint(b)
		for i := range denied {
			if _, err := pay(tools.WithGrant(ctx, gb), b); code(err) != tools.CodeRateLimited {
				t.Fatalf("attempt %d within the limit.s second: %v, want rate_limited", i, err)
			}
		}
		w.advance(1100 * time.Millisecond)
		if _, err := pay(tools.WithGrant(ctx, gb), b); err != nil {
			t.Fatalf("%d rate-limit denials burned the approval: %v", denied, err)
		}
		w.advance(1100 * time.Millisecond)
		if _, err := pay(tools.WithGrant(ctx, gb), b); code(err) != tools.CodeApprovalRequired {
			t.Fatalf("single-use grant reused after it ran: %v", err)
		}
		if paid != 2 {
			t.Fatalf("paid %d times, want 2", paid)
		}
	}
}

// The example: redact ["email"] on a tool returning []customer used to
// return every e-mail; now the output is withheld.
func TestRedactShapeMismatchWithholds(t *testing.T) {
	t.Parallel()
	type customer struct {
		Name  string `json:"name"`
		Email string `json:"email"`
	}
	w := newWorld(t, "rules:\n  - {id: r, effect: permit, tools: [list], redact: [email]}\n", nil)
	list, _ := tools.Wrap(w.enf, tools.Tool{Name: "list"}, func(ctx context.Context, p payment) ([]customer, error) {
		return []customer{{"a", "a@example.com"}, {"b", "b@example.com"}}, nil
	})
	out, err := list(w.ctx(t, "model:a", "a"), payment{})
	if code(err) != tools.CodeRedactionFailed || out != nil {
		t.Fatalf("redact [email] on []customer: %v, %v; want withheld (redaction_failed)", out, err)
	}
}
