package tools_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
)

// world is a full enforcer with a settable clock, approvals and secrets.
type world struct {
	enf      *tools.Enforcer
	sink     *audit.Memory
	issuer   *identity.Issuer
	approver *identity.Issuer
	queue    *tools.MemoryApprovals
	mu       sync.Mutex
	now      time.Time
}

func (w *world) clock() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.now
}

func (w *world) advance(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.now = w.now.Add(d)
}

func newWorld(t testing.TB, src string, secrets tools.SecretSource) *world {
	t.Helper()
	return newWorldWith(t, src, secrets, nil)
}

// newWorldWith records to sink instead of the world's memory log, if not nil.
func newWorldWith(t testing.TB, src string, secrets tools.SecretSource, sink audit.Sink) *world {
	t.Helper()
	w := &world{sink: &audit.Memory{}, now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}
	if sink == nil {
		sink = w.sink
	}
	key, _ := identity.GenerateKey(jose.EdDSA, "model-key")
	w.issuer, _ = identity.NewIssuer("https://id.example", key, identity.IssuerOptions{Now: w.clock})
	keys, _ := identity.NewKeySet(w.issuer.PublicKey())
	v, err := identity.NewVerifier("https://id.example", "modelguard", keys, identity.VerifierOptions{Now: w.clock})
	if err != nil {
		t.Fatal(err)
	}
	akey, _ := identity.GenerateKey(jose.ES256, "approver-key")
	w.approver, err = tools.NewGrantIssuer("https://approvals.example", akey, identity.IssuerOptions{Now: w.clock, TTL: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	akeys, _ := identity.NewKeySet(w.approver.PublicKey())
	gv, err := tools.NewGrantVerifier("https://approvals.example", "modelguard", akeys, identity.VerifierOptions{Now: w.clock})
	if err != nil {
		t.Fatal(err)
	}
	rules, err := policy.Parse("controls.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	set, err := policy.NewSet(rules, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w.queue = tools.NewMemoryApprovals(w.clock)
	w.enf, err = tools.NewEnforcer(v, set, sink, tools.Options{Now: w.clock, Secrets: secrets,
		Approvals: tools.ApprovalOptions{Verifier: gv, Queue: w.queue}})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *world) ctx(t testing.TB, sub, agent string) context.Context {
	t.Helper()
	tok, err := w.issuer.Mint(identity.Claims{Subject: sub, Agent: agent, Audience: []string{"modelguard"}})
	if err != nil {
		t.Fatal(err)
	}
	return identity.WithToken(context.Background(), tok)
}

func code(err error) tools.Code {
	if c := tools.CodeOf(err); c != "" {
		return c
	}
	if err == nil {
		return "ok"
	}
	return tools.Code("error: " + err.Error())
}

const financePolicy = `
rules:
  - id: invoices-read
    effect: permit
    tools: [invoices.summarize]
    when: identity.agent == "finance-bot"
  - id: payments-need-approval
    effect: permit
    tools: [payments.initiate, payments.refund]
    when: identity.agent == "finance-bot" && args.amount_cents <= 50000
    require: [approval]
    controls: [OWASP-AGENTIC-PRIVILEGE]
`

type payment struct {
	AmountCents int64  `json:"amount_cents"`
	Payee       string `json:"payee"`
}

// The seed's finance scenario, end to end: denied without a grant, approved by a
// human, allowed once, replay denied, other amount denied, expired grant denied.
func TestFinanceApprovalFlow(t *testing.T) {
	t.Parallel()
	w := newWorld(t, financePolicy, nil)
	paid := 0
	pay, err := tools.Wrap(w.enf, tools.Tool{Name: "payments.initiate"}, func(ctx context.Context, p payment) (string, error) {
		paid++
		return fmt.Sprintf("paid %d to %s", p.AmountCents, p.Payee), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := w.ctx(t, "model:fin-1", "finance-bot")
	p := payment{AmountCents: 12000, Payee: "ACME"}

	// 1. No grant: denied, and an approval request is filed with the exact call.
	_, err = pay(ctx, p)
	var de *tools.DeniedError
	if !errors.As(err, &de) || de.Code != tools.CodeApprovalRequired || !errors.Is(err, tools.ErrApprovalRequired) || de.Approval == nil {
		t.Fatalf("without grant: %v", err)
	}
	req := *de.Approval
	digest, _ := audit.Digest(&p)
	if req.Subject != "model:fin-1" || req.Tool != "payments.initiate" || req.ArgsDigest != digest || req.Status != tools.StatusPending ||
		!strings.Contains(string(req.Args), `"amount_cents":12000`) {
		t.Fatalf("approval request = %+v", req)
	}
	if _, err = pay(ctx, p); code(err) != tools.CodeApprovalRequired {
		t.Fatalf("second try: %v", err)
	}
	if pending, _ := w.queue.List(context.Background(), tools.StatusPending); len(pending) != 1 {
		t.Fatalf("retrying filed %d requests, want 1", len(pending))
	}

	// 2. A human approves: a grant bound to subject, tool and exact arguments.
	grant, err := tools.MintGrant(w.approver, tools.GrantSpec{ModelIssuer: "https://id.example", Subject: req.Subject,
		Audience: []string{"modelguard"}, Tools: []string{req.Tool}, ArgsDigest: req.ArgsDigest, Approver: "alice@example.com", Request: req.ID})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.queue.Approve(context.Background(), req.ID, "alice@example.com", grant); err != nil {
		t.Fatal(err)
	}

	// 3. Allowed once: the grant comes from the queue (any instance could pick it up).
	out, err := pay(ctx, p)
	if err != nil || out != "paid 12000 to ACME" || paid != 1 {
		t.Fatalf("approved call: %q %v (paid %d)", out, err, paid)
	}
	evs := w.sink.Events()
	dec := evs[len(evs)-2]
	if dec.Grant == nil || dec.Grant.Approver != "alice@example.com" || dec.Grant.Request != req.ID {
		t.Fatalf("decision event does not record the approver: %+v", dec.Grant)
	}

	// 4. Replay denied, from the queue and from the context alike.
	if _, err = pay(ctx, p); code(err) != tools.CodeApprovalRequired {
		t.Fatalf("replay: %v", err)
	}
	if _, err = pay(tools.WithGrant(ctx, grant), p); code(err) != tools.CodeApprovalRequired {
		t.Fatalf("replay from ctx: %v", err)
	}

	// 5. Other arguments, another tool, another identity: denied.
	g2, _ := tools.MintGrant(w.approver, tools.GrantSpec{ModelIssuer: "https://id.example", Subject: "model:fin-1", Audience: []string{"modelguard"},
		Tools: []string{"payments.initiate"}, ArgsDigest: digest, Approver: "alice@example.com"})
	if _, err = pay(tools.WithGrant(ctx, g2), payment{AmountCents: 13000, Payee: "ACME"}); code(err) != tools.CodeApprovalRequired {
		t.Fatalf("other amount: %v", err)
	}
	if _, err = pay(tools.WithGrant(w.ctx(t, "model:fin-2", "finance-bot"), g2), p); code(err) != tools.CodeApprovalRequired {
		t.Fatalf("other identity: %v", err)
	}
	refund, _ := tools.Wrap(w.enf, tools.Tool{Name: "payments.refund"}, func(ctx context.Context, p payment) (string, error) { paid++; return "", nil })
	if _, err = refund(tools.WithGrant(ctx, g2), p); code(err) != tools.CodeApprovalRequired {
		t.Fatalf("other tool: %v", err)
	}

	// 6. Expired grant: denied.
	w.advance(11 * time.Minute)
	ctx = w.ctx(t, "model:fin-1", "finance-bot")
	if _, err = pay(tools.WithGrant(ctx, g2), p); code(err) != tools.CodeApprovalRequired || paid != 1 {
		t.Fatalf("expired grant: %v (paid %d)", err, paid)
	}
	// A forged grant (signed by the model's own key) is rejected too.
	forged, _ := w.issuer.Mint(identity.Claims{Subject: "model:fin-1", Audience: []string{"modelguard"},
		Raw: map[string]any{"tools": []string{"payments.initiate"}, "approver": "mallory", "args_digest": digest}})
	if _, err = pay(tools.WithGrant(ctx, forged), p); code(err) != tools.CodeApprovalRequired || paid != 1 {
		t.Fatalf("forged grant: %v (paid %d)", err, paid)
	}
}

// Temporary elevation: a reusable grant lets a rule that requires grant.present
// permit a tool, until the grant expires; every use records the approver.
func TestTemporaryElevation(t *testing.T) {
	t.Parallel()
	w := newWorld(t, `
rules:
  - id: deploy-when-elevated
    effect: permit
    tools: [deploy.*]
    when: grant.present && grant.approver.endsWith("@example.com")
  - id: never-prod-db
    effect: forbid
    tools: [deploy.db]
`, nil)
	deploy, _ := tools.Wrap(w.enf, tools.Tool{Name: "deploy.app"}, func(ctx context.Context, p payment) (string, error) { return "deployed", nil })
	db, _ := tools.Wrap(w.enf, tools.Tool{Name: "deploy.db"}, func(ctx context.Context, p payment) (string, error) { return "db", nil })
	ctx := w.ctx(t, "model:coder", "coding-assistant")
	if _, err := deploy(ctx, payment{}); code(err) != tools.CodeNoPermit {
		t.Fatalf("before elevation: %v", err)
	}
	g, err := tools.MintGrant(w.approver, tools.GrantSpec{ModelIssuer: "https://id.example", Subject: "model:coder", Audience: []string{"modelguard"},
		Tools: []string{"deploy.*"}, Approver: "bob@example.com", Reusable: true, Constraint: `tool.name != "deploy.secrets"`})
	if err != nil {
		t.Fatal(err)
	}
	ectx := tools.WithGrant(ctx, g)
	for i := range 3 {
		if out, err := deploy(ectx, payment{}); err != nil || out != "deployed" {
			t.Fatalf("elevated call %d: %v", i, err)
		}
	}
	if _, err := db(ectx, payment{}); code(err) != tools.CodeForbidden {
		t.Fatalf("a forbid is never elevated: %v", err)
	}
	uses := 0
	for _, e := range w.sink.Events() {
		if e.Phase == audit.PhaseDecision && e.Grant != nil && e.Grant.Approver == "bob@example.com" {
			uses++
		}
	}
	if uses != 3 {
		t.Fatalf("recorded %d elevated uses, want 3", uses)
	}
	w.advance(11 * time.Minute)
	if _, err := deploy(tools.WithGrant(w.ctx(t, "model:coder", "coding-assistant"), g), payment{}); code(err) != tools.CodeNoPermit {
		t.Fatalf("after expiry: %v", err)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	w := newWorld(t, `
rules:
  - id: search
    effect: permit
    tools: [search]
    limit: {rate: 60/m, burst: 5, per: subject}
`, nil)
	search, _ := tools.Wrap(w.enf, tools.Tool{Name: "search"}, func(ctx context.Context, p payment) (int, error) { return 1, nil })
	noisy := w.ctx(t, "model:noisy", "a")
	quiet := w.ctx(t, "model:quiet", "a")
	// A concurrent burst of exactly the bucket size passes; one more does not.
	var wg sync.WaitGroup
	var mu sync.Mutex
	okCount := 0
	for range 5 {
		wg.Go(func() {
			if _, err := search(noisy, payment{}); err == nil {
				mu.Lock()
				okCount++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if okCount != 5 {
		t.Fatalf("burst of 5 passed %d", okCount)
	}
	_, err := search(noisy, payment{})
	var de *tools.DeniedError
	if !errors.As(err, &de) || de.Code != tools.CodeRateLimited || de.RetryAfter != time.Second {
		t.Fatalf("over the burst: %v (retry %v)", err, de)
	}
	if !strings.Contains(err.Error(), "retry after 1s") {
		t.Errorf("model message lacks retry: %v", err)
	}
	// The noisy identity does not starve the quiet one.
	for i := range 5 {
		if _, err := search(quiet, payment{}); err != nil {
			t.Fatalf("quiet call %d: %v", i, err)
		}
	}
	w.advance(time.Second)
	if _, err := search(noisy, payment{}); err != nil {
		t.Fatalf("after refill: %v", err)
	}
	last := w.sink.Events()
	for _, e := range last {
		if e.Code == string(tools.CodeRateLimited) && e.RetryAfter != time.Second {
			t.Fatalf("rate-limit event without retry: %+v", e)
		}
	}
}

func TestBudget(t *testing.T) {
	t.Parallel()
	w := newWorld(t, `
rules:
  - id: spend
    effect: permit
    tools: [payments.small]
    budget: {expr: args.amount_cents, max: 10000, window: 24h, per: agent}
`, nil)
	pay, _ := tools.Wrap(w.enf, tools.Tool{Name: "payments.small"}, func(ctx context.Context, p payment) (int64, error) { return p.AmountCents, nil })
	a1, a2 := w.ctx(t, "model:1", "fin"), w.ctx(t, "model:2", "fin")
	for _, tt := range []struct {
		ctx    context.Context
		amount int64
		want   string
	}{
		{a1, 6000, "ok"},
		{a2, 4000, "ok"}, // same agent: shared budget, now exactly at max
		{a1, 1, string(tools.CodeBudgetExceeded)},
		{a2, 20000, string(tools.CodeBudgetExceeded)}, // more than the whole budget
	} {
		if _, err := pay(tt.ctx, payment{AmountCents: tt.amount}); string(code(err)) != tt.want {
			t.Fatalf("amount %d: %v, want %s", tt.amount, err, tt.want)
		}
	}
	_, err := pay(a1, payment{AmountCents: 1})
	var de *tools.DeniedError
	if !errors.As(err, &de) || de.RetryAfter != 24*time.Hour {
		t.Fatalf("retry after = %v, want 24h", de)
	}
	w.advance(24 * time.Hour)
	if _, err := pay(w.ctx(t, "model:1", "fin"), payment{AmountCents: 9000}); err != nil {
		t.Fatalf("next day: %v", err)
	}
}

type repoOut struct {
	Files   []string          `json:"files"`
	Log     string            `json:"log"`
	Env     map[string]string `json:"env"`
	private string
}

// No injected secret value can appear in an output, an error, an audit record or
// a log line.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	const value = "hunter2-s3cr3t-value"
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "deploy-token"), []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w := newWorld(t, `
rules:
  - id: repo
    effect: permit
    tools: [repo.*]
    when: '"deploy-token" in request.secrets'
`, tools.FileSecrets(dir))
	var logBuf bytes.Buffer
	logger := log.New(&logBuf, "", 0)
	leaky := func(ctx context.Context, p payment) (repoOut, error) {
		s, ok := tools.SecretFromContext(ctx, "deploy-token")
		if !ok {
			return repoOut{}, errors.New("no secret")
		}
		out := repoOut{Files: []string{"a", "token=" + s}, Log: "used " + s, Env: map[string]string{s: s}, private: s}
		if p.AmountCents == 1 {
			return out, fmt.Errorf("push failed with token %s", s)
		}
		if p.AmountCents == 2 {
			panic("token " + s)
		}
		return out, nil
	}
	g, err := tools.Wrap(w.enf, tools.Tool{Name: "repo.push", Secrets: []string{"deploy-token"}}, leaky)
	if err != nil {
		t.Fatal(err)
	}
	ctx := w.ctx(t, "model:coder", "coding-assistant")
	var outs []string
	for i := range 3 {
		out, err := g(ctx, payment{AmountCents: int64(i)})
		logger.Printf("call %d: out=%+v err=%v", i, out, err)
		b, _ := json.Marshal(out)
		outs = append(outs, string(b), fmt.Sprintf("%+v", out), fmt.Sprint(err))
		if i == 0 && (err != nil || out.Log != "used [secret:deploy-token]") {
			t.Fatalf("scrubbed output = %+v, %v", out, err)
		}
	}
	var records bytes.Buffer
	for _, e := range w.sink.Events() {
		b, _ := json.Marshal(e)
		records.Write(b)
		if e.Phase == audit.PhaseDecision && (len(e.Secrets) != 1 || e.Secrets[0] != "deploy-token") {
			t.Errorf("decision event does not name the secret: %+v", e.Secrets)
		}
	}
	for what, s := range map[string]string{"outputs and errors": strings.Join(outs, "\n"), "audit records": records.String(), "log": logBuf.String()} {
		if strings.Contains(s, value) {
			t.Errorf("secret value leaked into %s:\n%s", what, s)
		}
	}
	if !strings.Contains(records.String(), "[secret:deploy-token]") {
		t.Errorf("audit records do not show the scrubbed error")
	}
	// Policy sees the names; without a source the call is denied.
	w2 := newWorld(t, "rules:\n  - {id: r, effect: permit, tools: [repo.*]}\n", nil)
	g2, _ := tools.Wrap(w2.enf, tools.Tool{Name: "repo.push", Secrets: []string{"deploy-token"}}, leaky)
	if _, err := g2(w2.ctx(t, "model:coder", "c"), payment{}); code(err) != tools.CodeSecretUnavailable {
		t.Fatalf("no secret source: %v", err)
	}
}

func TestFileSecretsStayInDir(t *testing.T) {
	dir := t.TempDir()
	outside := filepath.Join(filepath.Dir(dir), "outside-secret")
	_ = os.WriteFile(outside, []byte("x"), 0o600)
	src := tools.FileSecrets(dir)
	for _, name := range []string{"../outside-secret", "/etc/passwd", "a/../../outside-secret"} {
		if _, err := src.Secret(context.Background(), name); !errors.Is(err, tools.ErrSecret) {
			t.Errorf("FileSecrets(%q): %v, want ErrSecret", name, err)
		}
	}
	t.Setenv("APP_DB_PASSWORD", "pw")
	if v, err := tools.EnvSecrets("APP_").Secret(context.Background(), "db/password"); err != nil || v != "pw" {
		t.Errorf("EnvSecrets = %q, %v", v, err)
	}
}

type customer struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

type ticketView struct {
	ID          string       `json:"id"`
	Customer    customer     `json:"customer"`
	Attachments []attachment `json:"attachments"`
}

type attachment struct {
	Name    string `json:"name"`
	Content string `json:"content"`
	Size    int    `json:"size"`
}

func TestRedaction(t *testing.T) {
	t.Parallel()
	w := newWorld(t, `
rules:
  - id: read
    effect: permit
    tools: [tickets.get]
    redact: ["customer.email", "attachments[*].content", "attachments[*].size"]
  - id: typo
    effect: permit
    tools: [tickets.typo]
    redact: ["missing.path"]
`, nil)
	if _, err := tools.Wrap(w.enf, tools.Tool{Name: "tickets.typo"}, func(ctx context.Context, p payment) (ticketView, error) {
		return ticketView{}, nil
	}); err == nil || !strings.Contains(err.Error(), "no member \"missing\"") {
		t.Fatalf("a redact path the output type cannot hold was registered: %v", err)
	}
	get, _ := tools.Wrap(w.enf, tools.Tool{Name: "tickets.get"}, func(ctx context.Context, p payment) (ticketView, error) {
		return ticketView{ID: "T-1", Customer: customer{Name: "Ann", Email: "ann@example.com"},
			Attachments: []attachment{{Name: "a.pdf", Content: "PDF", Size: 3}, {Name: "b.png", Content: "PNG", Size: 4}}}, nil
	})
	out, err := get(w.ctx(t, "model:s", "support-bot"), payment{})
	if err != nil {
		t.Fatal(err)
	}
	if out.Customer.Email != tools.Redacted || out.Customer.Name != "Ann" || out.Attachments[1].Content != tools.Redacted ||
		out.Attachments[0].Size != 0 || out.Attachments[1].Name != "b.png" {
		t.Fatalf("redacted output = %+v", out)
	}
	evs := w.sink.Events()
	o := evs[len(evs)-1]
	want := "customer.email,attachments[*].content,attachments[*].size"
	if strings.Join(o.Redacted, ",") != want {
		t.Fatalf("redacted paths = %v, want %s", o.Redacted, want)
	}
	b, _ := json.Marshal(o)
	if strings.Contains(string(b), "ann@example.com") {
		t.Fatal("audit record holds a redacted value")
	}
	digest, _ := audit.Digest(out)
	if o.OutputDigest != digest {
		t.Fatal("output digest is not of what the model received")
	}
}

// A million distinct identities do not grow the limiter without bound.
func TestLimiterMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	t.Parallel()
	w := newWorld(t, "rules:\n  - {id: r, effect: permit, tools: [x], limit: {rate: 1000/s, burst: 1}}\n", nil)
	_ = w
	n := tools.LimiterLenForTest(1_000_000, 10_000, time.Millisecond)
	if n > 10_000 {
		t.Fatalf("limiter holds %d buckets, bound 10000", n)
	}
}

func TestLimiterFailsClosedWhenFull(t *testing.T) {
	t.Parallel()
	if !tools.LimiterFullForTest(100) {
		t.Fatal("a full limiter of refilling buckets accepted a new identity")
	}
}
