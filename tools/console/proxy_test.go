package console_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelguard/modelguard/tools"
	"github.com/modelguard/modelguard/tools/console"
)

func proxyFixture(t *testing.T, from string) *fixture {
	return newFixtureWith(t, func(c *console.Config) {
		c.Proxy = &console.ProxyAuth{SubjectHeader: "X-Forwarded-User", RolesHeader: "X-Forwarded-Groups",
			From: []netip.Prefix{netip.MustParsePrefix(from)}}
	})
}

// doHeaders sends a request with extra headers and no token.
func (f *fixture) doHeaders(t *testing.T, method, path string, hd map[string]string, form url.Values) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(form.Encode()))
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hd {
		req.Header.Set(k, v)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A trusted proxy's identity header signs a person in with the roles the
// proxy names; the same header from any other address is refused, and every
// other rule (CSRF, own subject, roles) still holds.
func TestProxyAuth(t *testing.T) {
	f := proxyFixture(t, "127.0.0.0/8")
	id := f.file(t, payment{AmountCents: 5, Payee: "ACME"})
	bob := map[string]string{"X-Forwarded-User": "bob", "X-Forwarded-Groups": "staff, approver"}
	code, body := f.doHeaders(t, "GET", "/approvals/"+id, bob, nil)
	if code != 200 || !strings.Contains(body, "bob (approver)") {
		t.Fatalf("proxy user: %d %s", code, body)
	}
	csrf := csrfRE.FindStringSubmatch(body)[1]
	for _, c := range []struct {
		name string
		hd   map[string]string
		form url.Values
		want int
	}{
		{"no CSRF", bob, url.Values{"ttl": {"5m"}}, 403},
		{"viewer", map[string]string{"X-Forwarded-User": "vic", "X-Forwarded-Groups": "viewer"}, url.Values{"ttl": {"5m"}, "csrf": {csrf}}, 403},
		{"no roles", map[string]string{"X-Forwarded-User": "nobody"}, url.Values{"ttl": {"5m"}, "csrf": {csrf}}, 403},
		{"empty subject", map[string]string{"X-Forwarded-User": " ", "X-Forwarded-Groups": "approver"}, url.Values{"ttl": {"5m"}}, 401},
		{"own subject", map[string]string{"X-Forwarded-User": "model:fin", "X-Forwarded-Groups": "approver"}, nil, 403},
	} {
		form := c.form
		if form == nil {
			_, b := f.doHeaders(t, "GET", "/", c.hd, nil)
			form = url.Values{"ttl": {"5m"}, "csrf": {csrfRE.FindStringSubmatch(b)[1]}}
		}
		if code, body := f.doHeaders(t, "POST", "/approvals/"+id+"/approve", c.hd, form); code != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, code, body, c.want)
		}
	}
	if code, body := f.doHeaders(t, "POST", "/approvals/"+id+"/approve", bob, url.Values{"ttl": {"5m"}, "csrf": {csrf}}); code != http.StatusSeeOther {
		t.Fatalf("proxy approver: %d %s", code, body)
	}
	if r, _ := f.queue.Get(context.Background(), id); r.Approver != "bob" {
		t.Fatalf("approver %q", r.Approver)
	}
	for _, e := range f.log.Events() {
		if e.Code == "console_approve" && (e.Identity.Subject != "bob" || e.Identity.Issuer != "proxy") {
			t.Fatalf("approval recorded as %+v", e.Identity)
		}
	}
}

func TestProxyUntrustedAddress(t *testing.T) {
	f := proxyFixture(t, "10.0.0.0/8") // the test client is 127.0.0.1
	alice := f.token(t, "alice", approver)
	bob := map[string]string{"X-Forwarded-User": "bob", "X-Forwarded-Groups": "approver"}
	if code, _ := f.doHeaders(t, "GET", "/", bob, nil); code != 401 {
		t.Fatalf("identity header from an untrusted address: %d", code)
	}
	// Tokens still work, without the header.
	if code, _ := f.do(t, "GET", "/", alice, nil); code != 200 {
		t.Fatalf("token beside proxy auth: %d", code)
	}
	if _, err := console.New(console.Config{Proxy: &console.ProxyAuth{SubjectHeader: "X-User"}}); err == nil {
		t.Fatal("ProxyAuth without addresses accepted")
	}
}

// The webhook posts a signed, Slack-shaped body for each request filed, once
// per request, and the guard's call does not depend on it.
func TestWebhookNotifier(t *testing.T) {
	secret := []byte("0123456789abcdef0123")
	var mu sync.Mutex
	var bodies []map[string]any
	fail := false
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if err := console.VerifyWebhook(secret, r.Header, b, time.Now(), time.Minute); err != nil {
			t.Errorf("signature: %v", err)
		}
		if err := console.VerifyWebhook([]byte("another secret.."), r.Header, b, time.Now(), time.Minute); !errors.Is(err, console.ErrBadSignature) {
			t.Errorf("wrong secret: %v", err)
		}
		if err := console.VerifyWebhook(secret, r.Header, append(b, ' '), time.Now(), time.Minute); !errors.Is(err, console.ErrBadSignature) {
			t.Errorf("changed body: %v", err)
		}
		if err := console.VerifyWebhook(secret, r.Header, b, time.Now().Add(time.Hour), time.Minute); !errors.Is(err, console.ErrBadSignature) {
			t.Errorf("old signature: %v", err)
		}
		var m map[string]any
		json.Unmarshal(b, &m)
		mu.Lock()
		bodies = append(bodies, m)
		failing := fail
		mu.Unlock()
		if failing {
			w.WriteHeader(500)
		}
	}))
	defer hook.Close()
	var errs []error
	q := console.Notify(tools.NewMemoryApprovals(nil), &console.Webhook{URL: hook.URL, Secret: secret,
		ApprovalURL: "https://console.example/approvals/{id}"}, func(err error) { errs = append(errs, err) })
	ctx := context.Background()
	req := tools.ApprovalRequest{Issuer: "https://id.example", Subject: "model:fin", Tool: "payments.<!channel>", ArgsDigest: "sha256:ab", Reason: "pay <https://evil|here>"}
	r1, err := q.Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := q.Request(ctx, req); err != nil { // the same pending request
		t.Fatal(err)
	}
	if len(bodies) != 1 {
		t.Fatalf("%d notifications for one request", len(bodies))
	}
	text, _ := bodies[0]["text"].(string)
	if !strings.Contains(text, "https://console.example/approvals/"+r1.ID) || strings.Contains(text, "<!channel>") || strings.Contains(text, "<https") {
		t.Fatalf("text %q", text)
	}
	if blocks, _ := bodies[0]["blocks"].([]any); len(blocks) != 1 {
		t.Fatalf("blocks %v", bodies[0]["blocks"])
	}
	if mg, _ := bodies[0]["modelguard"].(map[string]any); mg["id"] != r1.ID || mg["args_digest"] != "sha256:ab" {
		t.Fatalf("modelguard fields %v", mg)
	}
	mu.Lock()
	fail = true
	mu.Unlock()
	req.ArgsDigest = "sha256:cd"
	if _, err := q.Request(ctx, req); err != nil {
		t.Fatalf("a failed notification failed the filing: %v", err)
	}
	if len(errs) != 1 {
		t.Fatalf("failed notification not reported: %v", errs)
	}
	if err := (&console.Webhook{URL: hook.URL, Secret: []byte("short")}).Notify(ctx, r1); err == nil {
		t.Fatal("short secret accepted")
	}
	var nq *console.NotifyingQueue
	if _, err := nq.Request(ctx, req); err == nil {
		t.Fatal("nil queue filed")
	}
}

// Zero values and nil receivers of the notifier types are errors, never panics.
func TestNotifierZero(t *testing.T) {
	ctx := context.Background()
	if err := (*console.Webhook)(nil).Notify(ctx, tools.ApprovalRequest{}); err == nil {
		t.Fatal("nil webhook")
	}
	if err := (&console.Webhook{}).Notify(ctx, tools.ApprovalRequest{}); err == nil {
		t.Fatal("zero webhook")
	}
	if err := console.NotifierFunc(nil).Notify(ctx, tools.ApprovalRequest{}); err == nil {
		t.Fatal("nil func")
	}
	if _, err := (&console.NotifyingQueue{}).Request(ctx, tools.ApprovalRequest{}); err == nil {
		t.Fatal("zero queue")
	}
	if err := console.VerifyWebhook(nil, nil, nil, time.Time{}, 0); err == nil {
		t.Fatal("nil verify")
	}
}
