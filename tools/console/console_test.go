package console_test

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/mod/sumdb/note"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
	"github.com/modelguard/modelguard/tools/console"
)

type payment struct {
	AmountCents int64  `json:"amount_cents"`
	Payee       string `json:"payee"`
}

type fixture struct {
	srv    *httptest.Server
	people *identity.Issuer // the console's sign-in issuer
	models *identity.Issuer
	queue  *tools.MemoryApprovals
	log    *audit.Memory
	alog   *audit.File // with a file log: the signed log guard and console write
	pay    func(context.Context, payment) (string, error)
}

func newFixture(t *testing.T) *fixture { return newFixtureWith(t, nil) }

// segmentSize is the file log's MaxSegmentSize in fixtures: small, so that
// tests see segments rotated after the console opened the log.
var segmentSize int64 = 2048

// newFixtureWith builds the fixture; mut, if set, changes the console's
// configuration before it is built.
func newFixtureWith(t *testing.T, mut func(*console.Config)) *fixture {
	return buildFixture(t, false, mut)
}

// newLogFixture's guard and console write a signed file log (a checkpoint
// after every record) that the console's explorer reads.
func newLogFixture(t *testing.T) *fixture { return buildFixture(t, true, nil) }

func buildFixture(t testing.TB, fileLog bool, mut func(*console.Config)) *fixture {
	t.Helper()
	f := &fixture{queue: tools.NewMemoryApprovals(nil), log: &audit.Memory{}}
	var sink audit.Sink = f.log
	var rd *audit.Log
	var keys note.Verifiers
	if fileLog {
		skey, vkey, _ := note.GenerateKey(rand.Reader, "example.com/fin-bot/audit")
		signer, _ := note.NewSigner(skey)
		verifier, _ := note.NewVerifier(vkey)
		keys = note.VerifierList(verifier)
		path := filepath.Join(t.TempDir(), "audit.log")
		var err error
		// Rotated every few records, after the console opened the log.
		opts := audit.FileOptions{Signer: signer, CheckpointEvery: 1, MaxSegmentSize: segmentSize}
		if f.alog, err = audit.OpenFile(path, opts); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.alog.Close() })
		sink = audit.Multi(f.alog, f.log)
		if rd, err = audit.OpenLog(path); err != nil {
			t.Fatal(err)
		}
	}
	mk, _ := identity.GenerateKey(jose.EdDSA, "model")
	f.models, _ = identity.NewIssuer("https://id.example", mk, identity.IssuerOptions{})
	mks, _ := identity.NewKeySet(f.models.PublicKey())
	mv, _ := identity.NewVerifier("https://id.example", "modelguard", mks, identity.VerifierOptions{})
	ak, _ := identity.GenerateKey(jose.ES256, "approver")
	gi, _ := tools.NewGrantIssuer("https://approvals.example", ak, identity.IssuerOptions{TTL: 10 * time.Minute})
	aks, _ := identity.NewKeySet(gi.PublicKey())
	gv, _ := tools.NewGrantVerifier("https://approvals.example", "modelguard", aks, identity.VerifierOptions{})
	rules, _ := policy.Parse("p.yaml", []byte("rules:\n  - {id: pay-approval, effect: permit, tools: [payments.initiate], require: [approval]}\n"))
	set, err := policy.NewSet(rules, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	enf, err := tools.NewEnforcer(mv, set, sink, tools.Options{Approvals: tools.ApprovalOptions{Verifier: gv, Queue: f.queue}})
	if err != nil {
		t.Fatal(err)
	}
	f.pay, _ = tools.Wrap(enf, tools.Tool{Name: "payments.initiate"}, func(ctx context.Context, p payment) (string, error) { return "paid", nil })
	pk, _ := identity.GenerateKey(jose.EdDSA, "people")
	f.people, _ = identity.NewIssuer("https://sso.example", pk, identity.IssuerOptions{})
	pks, _ := identity.NewKeySet(f.people.PublicKey())
	pv, _ := identity.NewVerifier("https://sso.example", "console", pks, identity.VerifierOptions{})
	cfg := console.Config{Queue: f.queue, Verifier: pv, Grants: gi, GrantAudience: []string{"modelguard"},
		MaxGrantTTL: 30 * time.Minute, MaxElevationTTL: 10 * time.Minute, Audit: sink, Log: rd, LogKeys: keys, Policy: set}
	if mut != nil {
		mut(&cfg)
	}
	h, err := console.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var hh http.Handler = h
	if base := strings.TrimSuffix(cfg.BasePath, "/"); base != "" {
		mux := http.NewServeMux()
		mux.Handle(base+"/", http.StripPrefix(base, h))
		hh = mux
	}
	f.srv = httptest.NewServer(hh)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) token(t *testing.T, sub string, raw map[string]any) string {
	t.Helper()
	tok, err := f.people.Mint(identity.Claims{Subject: sub, Audience: []string{"console"}, Raw: raw})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (f *fixture) modelCall(t *testing.T, sub string, p payment) (string, error) {
	t.Helper()
	return f.callIn(t, sub, "", p)
}

// callIn makes the model's call in a session.
func (f *fixture) callIn(t *testing.T, sub, session string, p payment) (string, error) {
	t.Helper()
	tok, err := f.models.Mint(identity.Claims{Subject: sub, Agent: "fin-bot", Audience: []string{"modelguard"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := tools.WithCall(identity.WithToken(context.Background(), tok), tools.Call{SessionID: session, PromptID: "turn-1"})
	return f.pay(ctx, p)
}

func (f *fixture) file(t *testing.T, p payment) string {
	t.Helper()
	_, err := f.modelCall(t, "model:fin", p)
	var de *tools.DeniedError
	if !errors.As(err, &de) || de.Code != tools.CodeApprovalRequired {
		t.Fatalf("call: %v, want approval_required", err)
	}
	return de.Approval.ID
}

// do sends a request with a bearer token (empty: none) and returns status and body.
func (f *fixture) do(t *testing.T, method, path, tok string, form url.Values) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, strings.NewReader(form.Encode()))
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
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

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (f *fixture) csrf(t *testing.T, tok string) string {
	t.Helper()
	_, body := f.do(t, "GET", "/", tok, nil)
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in page: %s", body)
	}
	return m[1]
}

var approver = map[string]any{"roles": []any{"approver"}}

// identityClaims are a console user's claims with one role.
func identityClaims(sub, role string) identity.Claims {
	return identity.Claims{Subject: sub, Audience: []string{"console"}, Raw: map[string]any{"roles": []any{role}}}
}

// The whole flow over HTTP: denied approval_required, approver sees exact
// arguments, approves, the retried call runs once, a second retry is refused,
// and the approval is in the audit log with the approver.
func TestApproveFlow(t *testing.T) {
	f := newFixture(t)
	p := payment{AmountCents: 4200, Payee: "ACME"}
	id := f.file(t, p)
	alice := f.token(t, "alice", approver)
	code, body := f.do(t, "GET", "/approvals/"+id, alice, nil)
	if code != 200 || !strings.Contains(body, `&#34;amount_cents&#34;: 4200`) {
		t.Fatalf("request page %d does not show the exact arguments: %s", code, body)
	}
	csrf := f.csrf(t, alice)
	if code, body := f.do(t, "POST", "/approvals/"+id+"/approve", alice, url.Values{"csrf": {csrf}, "ttl": {"2h"}}); code != http.StatusBadRequest {
		t.Fatalf("expiry beyond the maximum: %d %s", code, body)
	}
	if code, body := f.do(t, "POST", "/approvals/"+id+"/approve", alice, url.Values{"csrf": {csrf}, "ttl": {"5m"}}); code != http.StatusSeeOther {
		t.Fatalf("approve: %d %s", code, body)
	}
	if out, err := f.modelCall(t, "model:fin", p); err != nil || out != "paid" {
		t.Fatalf("retried call: %v %v", out, err)
	}
	if _, err := f.modelCall(t, "model:fin", p); err == nil {
		t.Fatal("second retry ran: grant not single-use")
	}
	found := false
	for _, e := range f.log.Events() {
		if e.Phase == console.PhaseConsole && e.Code == "console_approve" && e.Identity.Subject == "alice" {
			found = true
		}
	}
	if !found {
		t.Fatal("approval not recorded in the audit log with the approver")
	}
}

// Every security rule, each as a table row: the request must be refused with
// the status given and the request must stay pending.
func TestSecurityRules(t *testing.T) {
	f := newFixture(t)
	id := f.file(t, payment{AmountCents: 1, Payee: "X"})
	alice := f.token(t, "alice", approver)
	viewer := f.token(t, "victor", map[string]any{"roles": []any{"viewer"}})
	self := f.token(t, "model:fin", approver)
	model := func() string {
		tok, _ := f.people.Mint(identity.Claims{Subject: "bot", Agent: "fin-bot", Audience: []string{"console"}, Raw: approver})
		return tok
	}()
	modelName := func() string {
		tok, _ := f.people.Mint(identity.Claims{Subject: "bot2", Model: identity.Model{Name: "gpt"}, Audience: []string{"console"}, Raw: approver})
		return tok
	}()
	norole := f.token(t, "nobody", nil)
	otherAud, _ := f.people.Mint(identity.Claims{Subject: "alice", Audience: []string{"modelguard"}, Raw: approver})
	modelTok, _ := f.models.Mint(identity.Claims{Subject: "alice", Audience: []string{"console"}, Raw: approver})
	approve := "/approvals/" + id + "/approve"
	for _, c := range []struct {
		name, tok string
		form      url.Values
		want      int
	}{
		{"anonymous", "", url.Values{"ttl": {"5m"}}, 401},
		{"garbage token", "x.y.z", url.Values{"ttl": {"5m"}}, 401},
		{"token for another audience", otherAud, url.Values{"ttl": {"5m"}}, 401},
		{"token from the model issuer", modelTok, url.Values{"ttl": {"5m"}}, 401},
		{"no role", norole, url.Values{"ttl": {"5m"}, "csrf": {"x"}}, 403},
		{"no CSRF token", alice, url.Values{"ttl": {"5m"}}, 403},
		{"wrong CSRF token", alice, url.Values{"ttl": {"5m"}, "csrf": {f.csrf(t, viewer)}}, 403},
		{"viewer", viewer, url.Values{"ttl": {"5m"}, "csrf": {f.csrf(t, viewer)}}, 403},
		{"own subject", self, url.Values{"ttl": {"5m"}, "csrf": {f.csrf(t, self)}}, 403},
		{"agent identity", model, url.Values{"ttl": {"5m"}, "csrf": {"x"}}, 403},
		{"model identity", modelName, url.Values{"ttl": {"5m"}, "csrf": {"x"}}, 403},
	} {
		if code, body := f.do(t, "POST", approve, c.tok, c.form); code != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, code, body, c.want)
		}
		if code, _ := f.do(t, "POST", "/approvals/"+id+"/deny", c.tok, url.Values{"reason": {"r"}, "csrf": c.form["csrf"]}); code != c.want {
			t.Errorf("%s deny: %d, want %d", c.name, code, c.want)
		}
	}
	if r, _ := f.queue.Get(context.Background(), id); r.Status != tools.StatusPending {
		t.Fatalf("request %s after refused actions, want pending", r.Status)
	}
	if code, _ := f.do(t, "GET", "/", "", nil); code != 401 {
		t.Fatalf("anonymous inbox: %d", code)
	}
	for _, tok := range []string{model, modelName, norole} {
		if code, _ := f.do(t, "GET", "/", tok, nil); code != 403 {
			t.Fatalf("model or role-less identity sees the inbox: %d", code)
		}
	}
	if code, _ := f.do(t, "GET", "/", viewer, nil); code != 200 {
		t.Fatalf("viewer inbox: %d", code)
	}
}

// Headers on every page: strict CSP without inline script; the session cookie
// is HttpOnly and SameSite=Strict.
func TestHeadersAndCookie(t *testing.T) {
	f := newFixture(t)
	alice := f.token(t, "alice", approver)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.PostForm(f.srv.URL+"/login", url.Values{"token": {alice}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ck := resp.Header.Get("Set-Cookie")
	if !strings.Contains(ck, "HttpOnly") || !strings.Contains(ck, "SameSite=Strict") || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d cookie %q", resp.StatusCode, ck)
	}
	for _, path := range []string{"/", "/approvals/nope", "/static/console.js"} {
		resp, err := c.Get(f.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "default-src 'none'") {
			t.Fatalf("%s CSP %q", path, csp)
		}
	}
	resp, _ = c.Get(f.srv.URL + "/")
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.Contains(string(b), "<script>") {
		t.Fatalf("cookie session inbox: %d, inline script present", resp.StatusCode)
	}
	if resp, _ := c.PostForm(f.srv.URL+"/login", url.Values{"token": {"bad"}}); resp.StatusCode != 401 {
		t.Fatalf("bad login: %d", resp.StatusCode)
	}
}

// Tool arguments are attacker-controlled: an injected script is text.
func TestArgsEscaped(t *testing.T) {
	f := newFixture(t)
	id := f.file(t, payment{AmountCents: 1, Payee: `<script>alert(1)</script><img src=x onerror=alert(2)>`})
	alice := f.token(t, "alice", approver)
	for _, path := range []string{"/", "/approvals/" + id} {
		_, body := f.do(t, "GET", path, alice, nil)
		if strings.Contains(body, "<script>alert") || strings.Contains(body, "<img src=x") || !strings.Contains(body, "&lt;script&gt;alert(1)") {
			t.Fatalf("%s: argument not escaped: %s", path, body)
		}
	}
}

func TestNewRefusesIncompleteConfig(t *testing.T) {
	if _, err := console.New(console.Config{}); err == nil {
		t.Fatal("zero config accepted")
	}
}

// A zero or nil Handler answers 503, never panics.
func TestZeroHandler(t *testing.T) {
	for _, h := range []*console.Handler{nil, {}} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("zero handler: %d", rec.Code)
		}
	}
}

// Instances with one CSRFSecret issue the same CSRF token for a sign-in
// token (HMAC-SHA256 of it under the secret), so a form served by one is
// accepted by another; an instance with its own random secret does not.
func TestSharedCSRFSecret(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	shared := newFixtureWith(t, func(c *console.Config) { c.CSRFSecret = secret })
	own := newFixture(t)
	for _, f := range []*fixture{shared, own} {
		tok := f.token(t, "alice", approver)
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(tok))
		want := base64.RawURLEncoding.EncodeToString(m.Sum(nil))
		if got := f.csrf(t, tok); (got == want) != (f == shared) {
			t.Fatalf("shared secret %v: CSRF token %q, HMAC under the secret %q", f == shared, got, want)
		}
	}
	k, _ := identity.GenerateKey(jose.EdDSA, "k")
	iss, _ := identity.NewIssuer("https://sso.example", k, identity.IssuerOptions{})
	ks, _ := identity.NewKeySet(iss.PublicKey())
	v, _ := identity.NewVerifier("https://sso.example", "console", ks, identity.VerifierOptions{})
	cfg := console.Config{Queue: tools.NewMemoryApprovals(nil), Verifier: v, Grants: iss, GrantAudience: []string{"x"}, Audit: &audit.Memory{}}
	if _, err := console.New(cfg); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	cfg.CSRFSecret = []byte("short")
	if _, err := console.New(cfg); err == nil {
		t.Fatal("short CSRF secret accepted")
	}
}

// A POST a browser marks as cross-site is refused, sign-in included.
func TestCrossSitePost(t *testing.T) {
	f := newFixture(t)
	alice := f.token(t, "alice", approver)
	id := f.file(t, payment{AmountCents: 1, Payee: "X"})
	csrf := f.csrf(t, alice)
	for _, path := range []string{"/login", "/approvals/" + id + "/approve"} {
		req, _ := http.NewRequest("POST", f.srv.URL+path, strings.NewReader(url.Values{"token": {alice}, "csrf": {csrf}, "ttl": {"5m"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+alice)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || resp.Header.Get("Set-Cookie") != "" {
			t.Fatalf("cross-site POST %s: %d %q", path, resp.StatusCode, resp.Header.Get("Set-Cookie"))
		}
	}
	if r, _ := f.queue.Get(context.Background(), id); r.Status != tools.StatusPending {
		t.Fatalf("cross-site approve decided the request: %s", r.Status)
	}
}
