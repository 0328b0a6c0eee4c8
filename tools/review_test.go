package tools_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/tools"
)

type payIn struct {
	To  string `json:"to"`
	Env string `json:"env"`
}

// A tool whose input is a pointer is decided on the same fields as one whose
// input is a value.
func TestPointerInputDecidedLikeValue(t *testing.T) {
	t.Parallel()
	w := newWorld(t, `
rules:
  - {id: p, effect: permit, tools: ["pay.*"], when: 'args.env != "dev"'}
  - {id: f, effect: forbid, tools: ["pay.*"], when: 'args.to == "attacker"'}
`, nil)
	ran := 0
	byPtr, err := tools.Wrap(w.enf, tools.Tool{Name: "pay.ptr"}, func(ctx context.Context, in *payIn) (string, error) { ran++; return "ok", nil })
	if err != nil {
		t.Fatal(err)
	}
	byVal, _ := tools.Wrap(w.enf, tools.Tool{Name: "pay.val"}, func(ctx context.Context, in payIn) (string, error) { ran++; return "ok", nil })
	ctx := w.ctx(t, "model:a", "a")
	if _, err := byPtr(ctx, &payIn{To: "attacker", Env: "prod"}); code(err) != tools.CodeForbidden {
		t.Fatalf("pointer input, forbidden payee: %v", err)
	}
	if _, err := byVal(ctx, payIn{To: "attacker", Env: "prod"}); code(err) != tools.CodeForbidden {
		t.Fatalf("value input, forbidden payee: %v", err)
	}
	if _, err := byPtr(ctx, &payIn{To: "bob", Env: "prod"}); err != nil {
		t.Fatalf("pointer input, allowed: %v", err)
	}
	if _, err := byPtr(ctx, nil); code(err) != tools.CodeBadArgs {
		t.Fatalf("nil pointer input: %v", err)
	}
	if ran != 1 {
		t.Fatalf("tool ran %d times, want 1", ran)
	}
}

// A single-use grant stays spent through the verifier's leeway after it expires.
func TestSpentGrantNotReusableInLeeway(t *testing.T) {
	t.Parallel()
	w := newWorld(t, financePolicy, nil)
	paid := 0
	pay, _ := tools.Wrap(w.enf, tools.Tool{Name: "payments.initiate"}, func(ctx context.Context, p payment) (string, error) { paid++; return "", nil })
	ctx := w.ctx(t, "model:fin", "finance-bot")
	p := payment{AmountCents: 100, Payee: "A"}
	digest, _ := audit.Digest(&p)
	g, _ := tools.MintGrant(w.approver, tools.GrantSpec{ModelIssuer: "https://id.example", Subject: "model:fin", Audience: []string{"modelguard"},
		Tools: []string{"payments.initiate"}, ArgsDigest: digest, Approver: "alice", Expiry: w.now.Add(time.Minute)})
	if _, err := pay(tools.WithGrant(ctx, g), p); err != nil {
		t.Fatal(err)
	}
	w.advance(time.Minute + time.Second) // expired, but within the verifier's 30 s leeway
	ctx = w.ctx(t, "model:fin", "finance-bot")
	for range 3 {
		if _, err := pay(tools.WithGrant(ctx, g), p); code(err) != tools.CodeApprovalRequired {
			t.Fatalf("reuse in the leeway: %v", err)
		}
	}
	if paid != 1 {
		t.Fatalf("paid %d times", paid)
	}
}

// The grant the policy decided on is the grant that is spent and recorded.
func TestDecidingGrantIsTheOneUsed(t *testing.T) {
	t.Parallel()
	w := newWorld(t, `
rules:
  - {id: cfo-only, effect: permit, tools: [wire], when: 'grant.present && grant.approver == "cfo@example.com"'}
`, nil)
	wire, _ := tools.Wrap(w.enf, tools.Tool{Name: "wire"}, func(ctx context.Context, p payment) (string, error) { return "sent", nil })
	ctx := w.ctx(t, "model:fin", "finance-bot")
	p := payment{AmountCents: 5}
	digest, _ := audit.Digest(&p)
	spec := tools.GrantSpec{ModelIssuer: "https://id.example", Subject: "model:fin", Audience: []string{"modelguard"}, Tools: []string{"wire"}}
	cfo := spec
	cfo.Approver, cfo.ArgsDigest = "cfo@example.com", digest
	cfoGrant, _ := tools.MintGrant(w.approver, cfo)
	intern := spec
	intern.Approver, intern.Reusable = "intern@example.com", true
	internGrant, _ := tools.MintGrant(w.approver, intern)
	req, _ := w.queue.Request(context.Background(), tools.ApprovalRequest{Issuer: "https://id.example", Subject: "model:fin", Tool: "wire", ArgsDigest: "x"})
	_ = w.queue.Approve(context.Background(), req.ID, "intern@example.com", internGrant)

	if _, err := wire(tools.WithGrant(ctx, cfoGrant), p); err != nil { // spends the CFO grant
		t.Fatal(err)
	}
	// The CFO grant is spent; the intern's grant must not stand in for it.
	if _, err := wire(tools.WithGrant(ctx, cfoGrant), p); code(err) != tools.CodeNoPermit {
		t.Fatalf("with a spent CFO grant and an intern grant: %v", err)
	}
	for _, e := range w.sink.Events() {
		if e.Phase == audit.PhaseDecision && e.Decision == audit.Allow && (e.Grant == nil || e.Grant.Approver != "cfo@example.com") {
			t.Fatalf("allowed call recorded under %+v", e.Grant)
		}
	}
}

// A guarded tool called from inside another does not see the outer tool's secrets.
func TestNestedToolDoesNotInheritSecrets(t *testing.T) {
	t.Parallel()
	src := tools.SecretFunc(func(context.Context, string) (string, error) { return "outer-secret-value", nil })
	w := newWorld(t, "rules:\n  - {id: r, effect: permit, tools: ['*']}\n", src)
	var seen []bool
	inner, _ := tools.Wrap(w.enf, tools.Tool{Name: "inner"}, func(ctx context.Context, p payment) (string, error) {
		_, ok := tools.SecretFromContext(ctx, "db")
		seen = append(seen, ok)
		return "", nil
	})
	outer, _ := tools.Wrap(w.enf, tools.Tool{Name: "outer", Secrets: []string{"db"}}, func(ctx context.Context, p payment) (string, error) {
		_, ok := tools.SecretFromContext(ctx, "db")
		seen = append(seen, ok)
		_, err := inner(ctx, p)
		return "", err
	})
	if _, err := outer(w.ctx(t, "model:a", "a"), payment{}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(seen) != "[true false]" {
		t.Fatalf("secret visible (outer, inner) = %v, want [true false]", seen)
	}
}

type secretOut struct {
	Text string `json:"text"`
}

func TestScrubbingOverlapsAndEncodings(t *testing.T) {
	t.Parallel()
	vals := map[string]string{"short": "tok_", "long": "tok_ABCDEF/12+34=56"}
	src := tools.SecretFunc(func(_ context.Context, name string) (string, error) { return vals[name], nil })
	w := newWorld(t, "rules:\n  - {id: r, effect: permit, tools: ['*']}\n", src)
	g, err := tools.Wrap(w.enf, tools.Tool{Name: "t", Secrets: []string{"short", "long"}}, func(ctx context.Context, p payment) (secretOut, error) {
		long, _ := tools.SecretFromContext(ctx, "long")
		return secretOut{Text: long + " " + base64.StdEncoding.EncodeToString([]byte(long)) + " " + url.QueryEscape(long) + " " + url.PathEscape(long)}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 20 { // map order used to decide the result
		out, err := g(w.ctx(t, "model:a", "a"), payment{})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(out)
		for _, leak := range []string{"ABCDEF", base64.StdEncoding.EncodeToString([]byte("tok_ABCDEF/12+34=56"))[:12]} {
			if strings.Contains(string(b), leak) {
				t.Fatalf("secret leaked: %s", b)
			}
		}
	}
	_, err = tools.Wrap(w.enf, tools.Tool{Name: "bin", Secrets: []string{"long"}}, func(ctx context.Context, p payment) ([]byte, error) { return nil, nil })
	if err == nil || !strings.Contains(err.Error(), "binary") {
		t.Fatalf("a tool with secrets returning []byte: %v", err)
	}
}

// A policy reload that changes a rate limit takes effect for identities already
// calling: their existing bucket is reshaped (not refilled), so it refills at the
// new rate and the next call is told to wait for it, not handed a fresh bucket.
func TestReloadChangesLimits(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "rules:\n  - {id: r, effect: permit, tools: [s], limit: {rate: 1/h, burst: 1}}\n", nil)
	s, _ := tools.Wrap(w.enf, tools.Tool{Name: "s"}, func(ctx context.Context, p payment) (int, error) { return 1, nil })
	ctx := w.ctx(t, "model:a", "a")
	if _, err := s(ctx, payment{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s(ctx, payment{}); code(err) != tools.CodeRateLimited {
		t.Fatalf("second call at 1/h: %v", err)
	}
	if err := w.enf.SetPolicy(context.Background(), setFrom(t, "rules:\n  - {id: r, effect: permit, tools: [s], limit: {rate: 100/s, burst: 5}}\n")); err != nil {
		t.Fatal(err)
	}
	_, err := s(ctx, payment{})
	var de *tools.DeniedError
	if err != nil && (!errors.As(err, &de) || de.Code != tools.CodeRateLimited || de.RetryAfter > 10*time.Millisecond) {
		t.Fatalf("after raising the limit: %v, want allowed or a retry within the new rate's 10ms", err)
	}
}

func TestCallJSONSizeCheckedFirst(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "rules:\n  - {id: r, effect: permit, tools: ['*']}\n", nil)
	g, _ := tools.NewGuard(w.enf, tools.Tool{Name: "t"}, func(ctx context.Context, p payment) (int, error) { return 1, nil })
	huge := `{"payee":"` + strings.Repeat("x", 2<<20) + `"}`
	_, err := g.CallJSON(w.ctx(t, "model:a", "a"), json.RawMessage(huge))
	if !errors.Is(err, tools.ErrBadArgs) || !strings.Contains(err.Error(), "byte limit") {
		t.Fatalf("oversized JSON: %v", err)
	}
}

func TestPendingRequestsBounded(t *testing.T) {
	t.Parallel()
	w := newWorld(t, financePolicy, nil)
	pay, _ := tools.Wrap(w.enf, tools.Tool{Name: "payments.initiate"}, func(ctx context.Context, p payment) (string, error) { return "", nil })
	ctx := w.ctx(t, "model:flood", "finance-bot")
	for i := range tools.MaxPendingRequests + 5 {
		_, err := pay(ctx, payment{AmountCents: int64(i + 1)})
		var de *tools.DeniedError
		if !errors.As(err, &de) || de.Code != tools.CodeApprovalRequired {
			t.Fatalf("call %d: %v", i, err)
		}
		if (de.Approval != nil) != (i < tools.MaxPendingRequests) {
			t.Fatalf("call %d: request filed = %v", i, de.Approval != nil)
		}
	}
	if pending, _ := w.queue.List(context.Background(), tools.StatusPending); len(pending) != tools.MaxPendingRequests {
		t.Fatalf("%d pending requests", len(pending))
	}
}
