package browsertest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
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

// app is a guarded payments tool that needs approval, a console over its
// queue and signed audit log, and the issuers of model and people tokens.
type app struct {
	srv    *httptest.Server
	queue  *tools.MemoryApprovals
	models *identity.Issuer
	people *identity.Issuer
	pay    func(context.Context, payment) (string, error)
}

func newApp(t *testing.T) *app {
	t.Helper()
	a := &app{queue: tools.NewMemoryApprovals(nil)}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	mk, err := identity.GenerateKey(jose.EdDSA, "model")
	must(err)
	a.models, err = identity.NewIssuer("https://id.example", mk, identity.IssuerOptions{})
	must(err)
	mks, _ := identity.NewKeySet(a.models.PublicKey())
	mv, err := identity.NewVerifier("https://id.example", "modelguard", mks, identity.VerifierOptions{})
	must(err)
	ak, _ := identity.GenerateKey(jose.ES256, "approver")
	gi, err := tools.NewGrantIssuer("https://approvals.example", ak, identity.IssuerOptions{TTL: 10 * time.Minute})
	must(err)
	aks, _ := identity.NewKeySet(gi.PublicKey())
	gv, err := tools.NewGrantVerifier("https://approvals.example", "modelguard", aks, identity.VerifierOptions{})
	must(err)
	skey, vkey, _ := note.GenerateKey(rand.Reader, "example.com/fin-bot/audit")
	signer, _ := note.NewSigner(skey)
	verifier, _ := note.NewVerifier(vkey)
	path := filepath.Join(t.TempDir(), "audit.log")
	file, err := audit.OpenFile(path, audit.FileOptions{Signer: signer, CheckpointEvery: 1})
	must(err)
	t.Cleanup(func() { file.Close() })
	rd, err := audit.OpenLog(path)
	must(err)
	rules, err := policy.Parse("p.yaml", []byte("rules:\n  - {id: pay-approval, effect: permit, tools: [payments.initiate], require: [approval]}\n"))
	must(err)
	set, err := policy.NewSet(rules, policy.Options{})
	must(err)
	enf, err := tools.NewEnforcer(mv, set, file, tools.Options{Approvals: tools.ApprovalOptions{Verifier: gv, Queue: a.queue}})
	must(err)
	a.pay, err = tools.Wrap(enf, tools.Tool{Name: "payments.initiate"}, func(context.Context, payment) (string, error) { return "paid", nil })
	must(err)
	pk, _ := identity.GenerateKey(jose.EdDSA, "people")
	a.people, err = identity.NewIssuer("https://sso.example", pk, identity.IssuerOptions{})
	must(err)
	pks, _ := identity.NewKeySet(a.people.PublicKey())
	pv, err := identity.NewVerifier("https://sso.example", "console", pks, identity.VerifierOptions{})
	must(err)
	h, err := console.New(console.Config{Queue: a.queue, Verifier: pv, Grants: gi, GrantAudience: []string{"modelguard"},
		MaxGrantTTL: 30 * time.Minute, Audit: file, Log: rd, LogKeys: note.VerifierList(verifier)})
	must(err)
	a.srv = httptest.NewServer(h) // 127.0.0.1 only
	t.Cleanup(a.srv.Close)
	return a
}

func (a *app) person(t *testing.T, sub, role string) string {
	t.Helper()
	tok, err := a.people.Mint(identity.Claims{Subject: sub, Audience: []string{"console"}, Raw: map[string]any{"roles": []any{role}}})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// call is the model's call in session s.
func (a *app) call(t *testing.T, s string, p payment) (string, error) {
	t.Helper()
	tok, err := a.models.Mint(identity.Claims{Subject: "model:fin", Agent: "fin-bot", Audience: []string{"modelguard"}})
	if err != nil {
		t.Fatal(err)
	}
	return a.pay(tools.WithCall(identity.WithToken(context.Background(), tok), tools.Call{SessionID: s, PromptID: "turn-1"}), p)
}

// file makes a call that must wait for approval and returns the request id.
func (a *app) file(t *testing.T, s string, p payment) string {
	t.Helper()
	_, err := a.call(t, s, p)
	var de *tools.DeniedError
	if !errors.As(err, &de) || de.Code != tools.CodeApprovalRequired {
		t.Fatalf("call: %v, want approval_required", err)
	}
	return de.Approval.ID
}

// browser starts headless Chromium, or skips the test without one.
func browser(t *testing.T) context.Context {
	t.Helper()
	bin := os.Getenv("MODELGUARD_TEST_CHROMIUM")
	if bin == "" {
		t.Skip("set MODELGUARD_TEST_CHROMIUM to a Chromium binary (eval \"$(.ci/chromium)\") to run the browser tests")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1200, 900),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	// The whole test is bounded: a timeout stops the browser.
	tctx, cancelTimeout := context.WithTimeout(actx, 2*time.Minute)
	ctx, cancelCtx := chromedp.NewContext(tctx)
	t.Cleanup(func() { cancelCtx(); cancelTimeout(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium %s: %v", bin, err)
	}
	return ctx
}

// shot saves a screenshot of the page as a test artifact.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("MODELGUARD_TEST_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // quality 100: PNG
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(dir, t.Name()+"-"+name+".png")
	if err := os.WriteFile(p, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", p)
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// value runs an action that returns a value.
func value[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return value(t, ctx, "text of "+sel, chromedp.Text(chromedp.CSS(sel)))
}

// login signs in through the page's form.
func login(t *testing.T, ctx context.Context, base, tok string) {
	t.Helper()
	do(t, ctx, "sign in", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), tok), chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#inbox")))
}

// The whole approval in a real browser: a model call is denied
// approval_required; the approver signs in, the request appears in the inbox
// without reload, the page shows its exact arguments; she approves; the
// retried call runs, a second retry is refused; the session explorer shows
// every record of the sequence verified.
func TestApprovalInBrowser(t *testing.T) {
	a := newApp(t)
	ctx := browser(t)
	login(t, ctx, a.srv.URL, a.person(t, "alice", console.RoleApprover))
	shot(t, ctx, "1-inbox-empty")
	p := payment{AmountCents: 4200, Payee: "ACME Corp"}
	id := a.file(t, "sess-1", p)
	// Live update: the request appears in the open inbox without navigation.
	do(t, ctx, "live inbox", chromedp.WaitVisible(chromedp.CSS("#req-"+id)))
	shot(t, ctx, "2-inbox-live")
	do(t, ctx, "open the request", chromedp.Click(chromedp.CSS("#req-"+id+" a")), chromedp.WaitVisible(chromedp.CSS("#args")))
	args, status := text(t, ctx, "#args"), text(t, ctx, "#status")
	if want := "{\n  \"amount_cents\": 4200,\n  \"payee\": \"ACME Corp\"\n}"; args != want || status != "pending" {
		t.Fatalf("request page shows %q (%s), want %q pending", args, status, want)
	}
	shot(t, ctx, "3-request")
	do(t, ctx, "approve", chromedp.SetValue(chromedp.CSS("#ttl"), "5m"), chromedp.Click(chromedp.CSS("#approve")),
		chromedp.WaitNotPresent(chromedp.CSS("#approve")), chromedp.WaitVisible(chromedp.CSS("#status")))
	if status := text(t, ctx, "#status"); status != "approved" {
		t.Fatalf("after approving, status %q", status)
	}
	shot(t, ctx, "4-approved")
	if out, err := a.call(t, "sess-1", p); err != nil || out != "paid" {
		t.Fatalf("retried call: %q %v", out, err)
	}
	if _, err := a.call(t, "sess-1", p); err == nil {
		t.Fatal("second retry ran: the grant is not single-use")
	}
	do(t, ctx, "session explorer", chromedp.Navigate(a.srv.URL+"/sessions/sess-1"), chromedp.WaitVisible(chromedp.CSS("#timeline")))
	recs := value(t, ctx, "records", chromedp.Evaluate[int](`document.querySelectorAll('li.rec').length`))
	verified := value(t, ctx, "verified", chromedp.Evaluate[int](`document.querySelectorAll('li.rec[data-verified="true"] .verified').length`))
	timeline := text(t, ctx, "#timeline")
	// denied approval_required; allowed under the grant and its outcome;
	// denied again once the grant is spent.
	if recs != 4 || verified != 4 {
		t.Fatalf("timeline: %d records, %d verified, want 4 and 4:\n%s", recs, verified, timeline)
	}
	for _, want := range []string{"approval_required", "approved by alice", "ok"} {
		if !strings.Contains(timeline, want) {
			t.Fatalf("timeline lacks %q:\n%s", want, timeline)
		}
	}
	shot(t, ctx, "5-session-verified")
}

// approvePost is a script that posts the approve form of request id from the
// page, with the page's CSRF token or without, and returns the status.
func approvePost(id string, withCSRF bool) chromedp.Action[int] {
	return chromedp.Evaluate[int](fmt.Sprintf(`(async () => {
		const f = new URLSearchParams({ttl: '5m'});
		const csrf = document.querySelector('input[name=csrf]');
		if (%v && csrf) f.set('csrf', csrf.value);
		const r = await fetch('/approvals/%s/approve', {method: 'POST', body: f, credentials: 'same-origin', redirect: 'manual'});
		return r.status;
	})()`, withCSRF, id), chromedp.EvalAwaitPromise)
}

// A viewer sees requests but no approve button and cannot approve by posting
// the form herself; a POST without the CSRF token is refused even for an
// approver; a <script> in an argument is shown as text and never runs.
func TestViewerCSRFAndInjection(t *testing.T) {
	a := newApp(t)
	evil := `<script>window.__pwned=1</script><img src=x onerror=window.__pwned=2>`
	id := a.file(t, "sess-x", payment{AmountCents: 1, Payee: evil})
	ctx := browser(t)
	login(t, ctx, a.srv.URL, a.person(t, "victor", console.RoleViewer))
	do(t, ctx, "viewer's request page", chromedp.Navigate(a.srv.URL+"/approvals/"+id), chromedp.WaitVisible(chromedp.CSS("#args")))
	args := text(t, ctx, "#args")
	buttons := value(t, ctx, "buttons", chromedp.Evaluate[int](`document.querySelectorAll('#approve, #deny').length`))
	pwned := value(t, ctx, "injection", chromedp.Evaluate[bool](`window.__pwned !== undefined || document.querySelector('#args img, #args script') !== null`))
	if !strings.Contains(args, evil) || pwned || buttons != 0 {
		t.Fatalf("viewer page: args %q, injected markup ran or parsed: %v, %d decision buttons", args, pwned, buttons)
	}
	shot(t, ctx, "1-viewer-escaped")
	if status := value(t, ctx, "viewer posts approve", approvePost(id, true)); status != 403 {
		t.Fatalf("viewer's approve with her CSRF token: %d, want 403", status)
	}
	// The approver, signed in, without the CSRF token.
	ctx2 := browser(t)
	login(t, ctx2, a.srv.URL, a.person(t, "alice", console.RoleApprover))
	do(t, ctx2, "approver's request page", chromedp.Navigate(a.srv.URL+"/approvals/"+id), chromedp.WaitVisible(chromedp.CSS("#approve")))
	if status := value(t, ctx2, "approver posts without CSRF", approvePost(id, false)); status != 403 {
		t.Fatalf("approve without CSRF token: %d, want 403", status)
	}
	pwned = value(t, ctx2, "injection", chromedp.Evaluate[bool](`window.__pwned !== undefined`))
	if args := text(t, ctx2, "#args"); pwned || !strings.Contains(args, evil) {
		t.Fatalf("approver page: injected markup ran: %v, args %q", pwned, args)
	}
	shot(t, ctx2, "2-approver-no-csrf")
	if r, _ := a.queue.Get(context.Background(), id); r.Status != tools.StatusPending {
		t.Fatalf("request %s after refused posts, want pending", r.Status)
	}
	// With the token the same post works: the refusals above were for the
	// missing token and the role, not a broken form.
	status := value(t, ctx2, "approver posts with CSRF", approvePost(id, true))
	if r, _ := a.queue.Get(context.Background(), id); r.Status != tools.StatusApproved {
		t.Fatalf("approve with CSRF token: status %d, request %s", status, r.Status)
	}
}

// A request page open in the browser follows a decision made elsewhere (on
// another instance) without reload: the form goes, the status changes. Then
// the approver grants a temporary elevation through the page, and calls with
// other arguments within its constraint run.
func TestLiveRequestPageAndElevation(t *testing.T) {
	a := newApp(t)
	id := a.file(t, "sess-l", payment{AmountCents: 100, Payee: "ACME"})
	ctx := browser(t)
	login(t, ctx, a.srv.URL, a.person(t, "alice", console.RoleApprover))
	do(t, ctx, "request page", chromedp.Navigate(a.srv.URL+"/approvals/"+id), chromedp.WaitVisible(chromedp.CSS("#approve")))
	value(t, ctx, "mark the page", chromedp.Evaluate[int](`window.__loadedOnce = 1`))
	if err := a.queue.Deny(context.Background(), id, "carol", "decided on another instance"); err != nil {
		t.Fatal(err)
	}
	do(t, ctx, "live decision", chromedp.WaitNotPresent(chromedp.CSS("#approve")))
	if status, same := text(t, ctx, "#status"), value(t, ctx, "no reload", chromedp.Evaluate[bool](`window.__loadedOnce === 1`)); status != "denied" || !same {
		t.Fatalf("after a decision elsewhere: status %q, same page %v", status, same)
	}
	shot(t, ctx, "1-denied-elsewhere")

	id = a.file(t, "sess-l", payment{AmountCents: 200, Payee: "ACME"})
	do(t, ctx, "elevate", chromedp.Navigate(a.srv.URL+"/approvals/"+id), chromedp.WaitVisible(chromedp.CSS("#approve")),
		chromedp.Click(chromedp.CSS("#kind-elevate")), chromedp.SetValue(chromedp.CSS("#ttl"), "10m"),
		chromedp.SendKeys(chromedp.CSS("#constraint"), "args.amount_cents <= 5000"),
		chromedp.Click(chromedp.CSS("#approve")), chromedp.WaitNotPresent(chromedp.CSS("#approve")))
	if status := text(t, ctx, "#status"); status != "approved" {
		t.Fatalf("elevation: status %q", status)
	}
	shot(t, ctx, "2-elevated")
	for _, p := range []payment{{200, "ACME"}, {4999, "Other"}, {5000, "Third"}} {
		if out, err := a.call(t, "sess-l", p); err != nil || out != "paid" {
			t.Fatalf("call %+v under the elevation: %q %v", p, out, err)
		}
	}
	if _, err := a.call(t, "sess-l", payment{5001, "ACME"}); err == nil {
		t.Fatal("a call outside the elevation's constraint ran")
	}
}
