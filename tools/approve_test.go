package tools_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/modelguard/modelguard/tools"
)

// ApproveRequest, the one signing path of the CLI and the console: the grant it
// signs lets the exact call run once; it refuses the request's own subject and
// an already decided request.
func TestApproveRequest(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "rules:\n  - {id: pay, effect: permit, tools: [payments.initiate], require: [approval]}\n", nil)
	pay, _ := tools.Wrap(w.enf, tools.Tool{Name: "payments.initiate"}, func(ctx context.Context, p payment) (string, error) { return "paid", nil })
	ctx := w.ctx(t, "model:fin", "finance-bot")
	p := payment{AmountCents: 1200, Payee: "ACME"}
	_, err := pay(ctx, p)
	var de *tools.DeniedError
	if !errors.As(err, &de) || de.Code != tools.CodeApprovalRequired || de.Approval == nil {
		t.Fatalf("first call: %v, want approval_required with a request", err)
	}
	id := de.Approval.ID
	aud := []string{"modelguard"}
	if _, err := tools.ApproveRequest(context.Background(), w.queue, w.approver, id, tools.Answer{Approver: "model:fin", Audience: aud}); !errors.Is(err, tools.ErrSelfApproval) {
		t.Fatalf("self-approval: %v, want ErrSelfApproval", err)
	}
	for _, bad := range []tools.Answer{{Audience: aud}, {Approver: "alice"}} {
		if _, err := tools.ApproveRequest(context.Background(), w.queue, w.approver, id, bad); err == nil {
			t.Fatalf("answer %+v approved", bad)
		}
	}
	if _, err := tools.ApproveRequest(context.Background(), w.queue, nil, id, tools.Answer{Approver: "alice", Audience: aud}); err == nil {
		t.Fatal("nil issuer approved")
	}
	if _, err := tools.ApproveRequest(context.Background(), w.queue, w.approver, id,
		tools.Answer{Approver: "alice", Audience: aud, Expiry: w.now.Add(5 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, err := tools.ApproveRequest(context.Background(), w.queue, w.approver, id, tools.Answer{Approver: "bob", Audience: aud}); !errors.Is(err, tools.ErrDecided) {
		t.Fatalf("second approval: %v, want ErrDecided", err)
	}
	if _, err := pay(ctx, payment{AmountCents: 1201, Payee: "ACME"}); code(err) != tools.CodeApprovalRequired {
		t.Fatalf("other arguments under the grant: %v", err)
	}
	if out, err := pay(ctx, p); err != nil || out != "paid" {
		t.Fatalf("approved call: %v, %v", out, err)
	}
	if _, err := pay(ctx, p); code(err) != tools.CodeApprovalRequired {
		t.Fatalf("single-use grant reused: %v", err)
	}
}
