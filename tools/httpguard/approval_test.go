package httpguard_test

import (
	"errors"
	"testing"

	"github.com/modelguard/modelguard/tools"
	"github.com/modelguard/modelguard/tools/httpguard"
)

func TestApprovalURL(t *testing.T) {
	t.Parallel()
	for tmpl, ok := range map[string]bool{
		"https://host/approvals/{id}":       true,
		"https://host/a?x=1#/{id}":          false, // not in the path
		"http://127.0.0.1:8080/{id}/review": true,
		"http://host/approvals/{id}":        false,
		"https://host/approvals/":           false,
		"https://{id}/approvals":            false,
		"/approvals/{id}":                   false,
	} {
		if err := httpguard.CheckApprovalURL(tmpl); (err == nil) != ok || (err != nil && !errors.Is(err, httpguard.ErrBadApprovalURL)) {
			t.Errorf("CheckApprovalURL(%q) = %v", tmpl, err)
		}
	}
	if got := httpguard.ApprovalURL("https://host/approvals/{id}", "a/../b c"); got != "https://host/approvals/a%2F..%2Fb%20c" {
		t.Errorf("ApprovalURL = %q", got)
	}
	de := &tools.DeniedError{Tool: "t", Code: tools.CodeApprovalRequired, Approval: &tools.ApprovalRequest{ID: "apr-1"}}
	if httpguard.ApprovalDenial(de) != de || httpguard.ApprovalDenial(&tools.DeniedError{Code: tools.CodeApprovalRequired}) != nil {
		t.Error("ApprovalDenial")
	}
	want := "modelguard: call to t denied (approval_required); approval request apr-1 is pending; an approver can approve it with `modelguard approve grant apr-1`; make the same call again once it is approved"
	if got := httpguard.ApprovalText(de, ""); got != want {
		t.Errorf("ApprovalText = %q", got)
	}
}
