package tools_test

import (
	"context"
	"strings"
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
// return every e-mail. With the output type known, the path is refused when the
// tool is registered, naming the rule and where it is; "[*].email" is the path
// that says it; with an output typed any, the mismatch is found at run time and
// the output is withheld.
func TestRedactShapeMismatchWithholds(t *testing.T) {
	t.Parallel()
	type customer struct {
		Name  string `json:"name"`
		Email string `json:"email"`
	}
	w := newWorld(t, "rules:\n  - {id: r, effect: permit, tools: [list, list2, list3], redact: [email]}\n"+
		"  - {id: r2, effect: permit, tools: [list2], redact: [\"[*].email\"]}\n", nil)
	fn := func(ctx context.Context, p payment) ([]customer, error) {
		return []customer{{"a", "a@example.com"}, {"b", "b@example.com"}}, nil
	}
	if _, err := tools.Wrap(w.enf, tools.Tool{Name: "list"}, fn); err == nil ||
		!strings.Contains(err.Error(), `redact "email"`) || !strings.Contains(err.Error(), "r") || !strings.Contains(err.Error(), ":2:") {
		t.Fatalf("redact [email] on []customer registered: %v; want a start-up error naming rule r at line 2", err)
	}
	dyn, err := tools.Wrap(w.enf, tools.Tool{Name: "list3"}, func(ctx context.Context, p payment) (any, error) { return fn(ctx, p) })
	if err != nil {
		t.Fatal(err)
	}
	out, err := dyn(w.ctx(t, "model:a", "a"), payment{})
	if code(err) != tools.CodeRedactionFailed || out != nil {
		t.Fatalf("redact [email] on any holding []customer: %v, %v; want withheld (redaction_failed)", out, err)
	}
}

// TestRedactTopLevelArray: "[*].email" redacts every element's e-mail.
func TestRedactTopLevelArray(t *testing.T) {
	t.Parallel()
	type customer struct {
		Name  string `json:"name"`
		Email string `json:"email"`
	}
	w := newWorld(t, "rules:\n  - {id: r, effect: permit, tools: [list], redact: [\"[*].email\"]}\n", nil)
	list, err := tools.Wrap(w.enf, tools.Tool{Name: "list"}, func(ctx context.Context, p payment) ([]customer, error) {
		return []customer{{"a", "a@example.com"}, {"b", "b@example.com"}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := list(w.ctx(t, "model:a", "a"), payment{})
	if err != nil || len(out) != 2 || out[0].Email != tools.Redacted || out[1].Email != tools.Redacted || out[1].Name != "b" {
		t.Fatalf("got %+v, %v", out, err)
	}
}
