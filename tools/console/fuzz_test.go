package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modelguard/modelguard/tools"
)

// FuzzForms sends any search query and approve or deny form: the console
// answers with a status, never panics, and a form it refuses never decides the
// request.
func FuzzForms(f *testing.F) {
	for _, s := range [][5]string{
		{"agent=fin-bot&since=2026-12-02T10:00:00Z", "once", "5m", "", "x"},
		{"since=yesterday", "elevate", "11m", "args.amount_cents <= 5000", ""},
		{"decision=%ff&until=2026-12-02", "forever", "-1s", "\x00", "r"},
		{"session=%3Cscript%3E", "elevate", "1h", strings.Repeat("x", 3000), "<script>"},
	} {
		f.Add(s[0], s[1], s[2], s[3], s[4])
	}
	fx := buildFixture(f, true, nil)
	viewer := fx.token(&testing.T{}, "victor", map[string]any{"roles": []any{"viewer"}})
	alice := fx.token(&testing.T{}, "alice", approver)
	var n atomic.Int64
	f.Fuzz(func(t *testing.T, query, kind, ttl, constraint, reason string) {
		if code, _ := fx.do(t, "GET", "/sessions?"+query, viewer, nil); code != 200 && code != 400 {
			t.Fatalf("search %q: %d", query, code)
		}
		// A fresh request each time, so that every input meets a pending one.
		id := fx.file(t, payment{AmountCents: n.Add(1), Payee: "fuzz"})
		csrf := fx.csrf(t, alice)
		code, _ := fx.do(t, "POST", "/approvals/"+id+"/approve", alice, url.Values{"csrf": {csrf}, "kind": {kind}, "ttl": {ttl}, "constraint": {constraint}})
		r, _ := fx.queue.Get(t.Context(), id)
		switch code {
		case http.StatusSeeOther:
			if r.Status != tools.StatusApproved {
				t.Fatalf("approved answer, request %s", r.Status)
			}
			return
		case http.StatusBadRequest:
			if r.Status != tools.StatusPending {
				t.Fatalf("refused form decided the request: %s", r.Status)
			}
		default:
			t.Fatalf("approve %q %q %q: %d", kind, ttl, constraint, code)
		}
		c, _ := fx.do(t, "POST", "/approvals/"+id+"/deny", alice, url.Values{"csrf": {csrf}, "reason": {reason}})
		r, _ = fx.queue.Get(t.Context(), id)
		if want := map[int]string{303: tools.StatusDenied, 400: tools.StatusPending}[c]; want == "" || r.Status != want {
			t.Fatalf("deny %q: %d, request %s", reason, c, r.Status)
		}
		if r.Status == tools.StatusPending {
			fx.queue.Deny(t.Context(), id, "fuzz", "clean up") // keep the identity under its pending cap
		}
	})
}
