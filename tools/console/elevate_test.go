package console_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/tools"
	"github.com/modelguard/modelguard/tools/console"
)

// A temporary elevation is a reusable grant for the request's tool, narrowed by
// the approver's constraint: calls with other arguments run, again and again,
// while the constraint holds; a call outside it waits for a new approval.
func TestElevation(t *testing.T) {
	f := newFixture(t)
	id := f.file(t, payment{AmountCents: 1000, Payee: "ACME"})
	alice := f.token(t, "alice", approver)
	csrf := f.csrf(t, alice)
	approve := "/approvals/" + id + "/approve"
	for _, c := range []struct {
		name string
		form url.Values
	}{
		{"elevation beyond its maximum", url.Values{"kind": {"elevate"}, "ttl": {"11m"}}},
		{"unknown kind", url.Values{"kind": {"forever"}, "ttl": {"5m"}}},
		{"no expiry", url.Values{"kind": {"elevate"}}},
		{"negative expiry", url.Values{"kind": {"elevate"}, "ttl": {"-5m"}}},
		{"constraint over two lines", url.Values{"kind": {"elevate"}, "ttl": {"5m"}, "constraint": {"true\n|| true"}}},
		{"constraint too long", url.Values{"kind": {"elevate"}, "ttl": {"5m"}, "constraint": {strings.Repeat("x", 3000)}}},
	} {
		c.form.Set("csrf", csrf)
		if code, body := f.do(t, "POST", approve, alice, c.form); code != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", c.name, code, body)
		}
	}
	if r, _ := f.queue.Get(context.Background(), id); r.Status != tools.StatusPending {
		t.Fatalf("refused forms changed the request: %s", r.Status)
	}
	form := url.Values{"csrf": {csrf}, "kind": {"elevate"}, "ttl": {"10m"}, "constraint": {"args.amount_cents <= 5000"}}
	if code, body := f.do(t, "POST", approve, alice, form); code != http.StatusSeeOther {
		t.Fatalf("elevate: %d %s", code, body)
	}
	for _, p := range []payment{{1000, "ACME"}, {1000, "ACME"}, {4999, "Other"}, {5000, "Third"}} {
		if out, err := f.modelCall(t, "model:fin", p); err != nil || out != "paid" {
			t.Fatalf("call %+v under the elevation: %v %v", p, out, err)
		}
	}
	_, err := f.modelCall(t, "model:fin", payment{5001, "ACME"})
	var de *tools.DeniedError
	if !errors.As(err, &de) || de.Code != tools.CodeApprovalRequired {
		t.Fatalf("call outside the constraint: %v, want approval_required", err)
	}
	if _, err := f.modelCall(t, "model:bob", payment{1000, "ACME"}); err == nil {
		t.Fatal("the elevation covered another model identity")
	}
	var recorded bool
	for _, e := range f.log.Events() {
		if e.Phase == console.PhaseConsole && e.Code == "console_approve" && e.Identity.Subject == "alice" &&
			strings.Contains(strings.Join(e.Reasons, "|"), "kind elevate|") &&
			strings.Contains(strings.Join(e.Reasons, "|"), "constraint args.amount_cents <= 5000") {
			recorded = true
		}
	}
	if !recorded {
		t.Fatal("the elevation is not in the audit log with its kind and constraint")
	}
}

// The approve-once path also takes an approver's constraint, and a single-use
// grant still runs once.
func TestApproveOnceWithConstraint(t *testing.T) {
	f := newFixture(t)
	p := payment{AmountCents: 70, Payee: "ACME"}
	id := f.file(t, p)
	alice := f.token(t, "alice", approver)
	form := url.Values{"csrf": {f.csrf(t, alice)}, "kind": {"once"}, "ttl": {"30m"}, "constraint": {`args.payee == "ACME"`}}
	if code, body := f.do(t, "POST", "/approvals/"+id+"/approve", alice, form); code != http.StatusSeeOther {
		t.Fatalf("approve: %d %s", code, body)
	}
	if out, err := f.modelCall(t, "model:fin", p); err != nil || out != "paid" {
		t.Fatalf("retried call: %v %v", out, err)
	}
	if _, err := f.modelCall(t, "model:fin", p); err == nil {
		t.Fatal("second retry ran")
	}
}

// The JSON endpoints the page polls: pending requests and one request's
// status, never the signed grant, for viewers too, never anonymously.
func TestLiveAPI(t *testing.T) {
	f := newFixture(t)
	id := f.file(t, payment{AmountCents: 1, Payee: "X"})
	viewer := f.token(t, "victor", map[string]any{"roles": []any{"viewer"}})
	alice := f.token(t, "alice", approver)
	if code, _ := f.do(t, "GET", "/api/approvals", "", nil); code != 401 {
		t.Fatalf("anonymous API: %d", code)
	}
	code, body := f.do(t, "GET", "/api/approvals", viewer, nil)
	var list []map[string]any
	if code != 200 || json.Unmarshal([]byte(body), &list) != nil || len(list) != 1 || list[0]["id"] != id || list[0]["status"] != "pending" {
		t.Fatalf("pending list: %d %s", code, body)
	}
	f.do(t, "POST", "/approvals/"+id+"/approve", alice, url.Values{"csrf": {f.csrf(t, alice)}, "ttl": {"5m"}})
	code, body = f.do(t, "GET", "/api/approvals/"+id, viewer, nil)
	var one map[string]any
	if code != 200 || json.Unmarshal([]byte(body), &one) != nil || one["status"] != "approved" || one["approver"] != "alice" {
		t.Fatalf("request status: %d %s", code, body)
	}
	if strings.Contains(body, "grant") || strings.Contains(body, "eyJ") {
		t.Fatalf("the API leaks the grant: %s", body)
	}
	if _, body := f.do(t, "GET", "/api/approvals", viewer, nil); body != "[]" {
		t.Fatalf("pending after approval: %s", body)
	}
	if code, _ := f.do(t, "GET", "/api/approvals/nope", viewer, nil); code != 404 {
		t.Fatalf("unknown request: %d", code)
	}
	// The page the script swaps from carries the state the script compares.
	if _, body := f.do(t, "GET", "/approvals/"+id, viewer, nil); !strings.Contains(body, `data-watch="/api/approvals/`+id+`" data-state="approved"`) {
		t.Fatalf("request page has no watch state: %s", body)
	}
}

// Mounted under a path, every link, form and asset carries it.
func TestBasePath(t *testing.T) {
	f := newFixtureWith(t, func(c *console.Config) { c.BasePath = "/console/" })
	id := f.file(t, payment{AmountCents: 1, Payee: "X"})
	alice := f.token(t, "alice", approver)
	code, body := f.do(t, "GET", "/console/approvals/"+id, alice, nil)
	if code != 200 || !strings.Contains(body, `action="/console/approvals/`+id+`/approve"`) || !strings.Contains(body, `src="/console/static/console.js"`) {
		t.Fatalf("%d %s", code, body)
	}
	csrf := csrfRE.FindStringSubmatch(body)[1]
	code, _ = f.do(t, "POST", "/console/approvals/"+id+"/approve", alice, url.Values{"csrf": {csrf}, "ttl": {"5m"}})
	if code != http.StatusSeeOther {
		t.Fatalf("approve under a base path: %d", code)
	}
	if code, _ := f.do(t, "GET", "/console/static/console.js", "", nil); code != 200 {
		t.Fatalf("asset under a base path: %d", code)
	}
}
