package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/note"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
	"github.com/modelguard/modelguard/tools/approvalpg"
)

func TestConsoleFlags(t *testing.T) {
	t.Parallel()
	code, out, _ := runCLI(t, "console", "-h")
	for _, f := range []string{"-people-iss", "-people-keys", "-grant-key", "-grant-aud", "-log-key", "-record", "-proxy-header", "-db", "-max-elevation"} {
		if code != exitOK || !strings.Contains(out, f) {
			t.Fatalf("console -h: %d, no %s in\n%s", code, f, out)
		}
	}
	full := []string{"-people-iss", "https://sso", "-people-keys", "k.jwks", "-grant-key", "g.jwk", "-grant-iss", "https://approvals", "-grant-aud", "svc", "-record", "c.log"}
	for _, c := range []struct {
		name string
		args []string
	}{
		{"nothing", nil},
		{"no record", full[:len(full)-2]},
		{"no grant audience", append(append([]string{}, full[:8]...), "-record", "c.log")},
		{"two key sources", append([]string{"-people-jwks", "https://sso/jwks"}, full...)},
		{"elevation beyond max", append([]string{"-max-ttl", "10m", "-max-elevation", "20m"}, full...)},
		{"tls cert without key", append([]string{"-tls-cert", "c.pem"}, full...)},
		{"positional", append([]string{"extra"}, full...)},
	} {
		if code, _, errOut := runCLI(t, append([]string{"console"}, c.args...)...); code != exitUsage {
			t.Errorf("%s: exit %d, want usage error\n%s", c.name, code, errOut)
		}
	}
}

// consoleKeys are the files a console deployment has: the sign-in issuer's
// keys, the approvers' key and the audit log's checkpoint key.
type consoleKeys struct {
	dir, peopleKey, peoplePub, grantKey, grantPub, logKey, logPub string
}

func newConsoleKeys(t *testing.T) consoleKeys {
	dir := t.TempDir()
	k := consoleKeys{dir: dir}
	k.peopleKey, k.peoplePub, _ = keygen(t, filepath.Join(dir))
	sub := filepath.Join(dir, "grant")
	os.Mkdir(sub, 0o700)
	k.grantKey, k.grantPub, _ = keygen(t, sub)
	if code, _, errOut := runCLI(t, "audit", "keygen", "-name", "example.com/fin/audit", "-out", filepath.Join(dir, "audit")); code != exitOK {
		t.Fatalf("audit keygen: %s", errOut)
	}
	k.logKey, k.logPub = filepath.Join(dir, "audit.key"), filepath.Join(dir, "audit.pub")
	return k
}

func (k consoleKeys) args(dsn, prefix, logPath, record string) []string {
	return []string{"-db", dsn, "-prefix", prefix, "-people-iss", "https://sso.example", "-people-keys", k.peoplePub,
		"-grant-key", k.grantKey, "-grant-iss", "https://approvals.example", "-grant-aud", "modelguard",
		"-log", logPath, "-log-key", k.logPub, "-record", record, "-record-key", k.logKey}
}

// person mints a sign-in token for the console.
func (k consoleKeys) person(t *testing.T, sub, role string) string {
	t.Helper()
	iss, err := identity.NewIssuer("https://sso.example", readKey(t, k.peopleKey), identity.IssuerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.Mint(identity.Claims{Subject: sub, Audience: []string{"modelguard-console"}, Raw: map[string]any{"role": role}})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

const financePolicy = "rules:\n  - {id: pay-approval, effect: permit, tools: [payments.initiate], require: [approval]}\n"

// financeApp is the guarded application: a payments tool that needs approval,
// filing into the PostgreSQL queue and writing a signed audit log.
type financeApp struct {
	pay   func(context.Context, paymentArgs) (string, error)
	model *identity.Issuer
	log   *audit.File
}

type paymentArgs struct {
	AmountCents int64  `json:"amount_cents"`
	Payee       string `json:"payee"`
}

func newFinanceApp(t *testing.T, k consoleKeys, q tools.ApprovalQueue, logPath string) *financeApp {
	t.Helper()
	mk, _ := identity.GenerateKey("EdDSA", "model")
	app := &financeApp{}
	app.model, _ = identity.NewIssuer("https://id.example", mk, identity.IssuerOptions{})
	mks, _ := identity.NewKeySet(app.model.PublicKey())
	mv, _ := identity.NewVerifier("https://id.example", "modelguard", mks, identity.VerifierOptions{})
	gks, err := identity.LoadKeySet(k.grantPub)
	if err != nil {
		t.Fatal(err)
	}
	gv, _ := tools.NewGrantVerifier("https://approvals.example", "modelguard", gks, identity.VerifierOptions{})
	skey, _ := os.ReadFile(k.logKey)
	signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		t.Fatal(err)
	}
	if app.log, err = audit.OpenFile(logPath, audit.FileOptions{Signer: signer, CheckpointEvery: 1}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.log.Close() })
	rules, _ := policy.Parse("p.yaml", []byte(financePolicy))
	set, err := policy.NewSet(rules, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	enf, err := tools.NewEnforcer(mv, set, app.log, tools.Options{Approvals: tools.ApprovalOptions{Verifier: gv, Queue: q}})
	if err != nil {
		t.Fatal(err)
	}
	app.pay, err = tools.Wrap(enf, tools.Tool{Name: "payments.initiate"}, func(context.Context, paymentArgs) (string, error) { return "paid", nil })
	if err != nil {
		t.Fatal(err)
	}
	return app
}

func (a *financeApp) call(t *testing.T, p paymentArgs) (string, error) {
	t.Helper()
	tok, _ := a.model.Mint(identity.Claims{Subject: "model:fin", Agent: "fin-bot", Audience: []string{"modelguard"}})
	return a.pay(tools.WithCall(identity.WithToken(context.Background(), tok), tools.Call{SessionID: "sess-cli"}), p)
}

// consoleGet fetches path with a bearer token.
func consoleGet(t *testing.T, base, path, tok string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Two `modelguard console` instances on one PostgreSQL queue: a request the
// guard files appears on both; approved on B (with the form A served: one
// -csrf-secret), it is approved on A;
// the retried call runs once; the session explorer proves every record.
func TestConsolePostgresInstances(t *testing.T) {
	dsn := os.Getenv("MODELGUARD_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("set MODELGUARD_TEST_POSTGRES (see .ci/postgres) to run PostgreSQL tests")
	}
	var b [6]byte
	rand.Read(b[:])
	prefix := "con" + hex.EncodeToString(b[:]) + "_"
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	q, err := approvalpg.New(ctx, pool, approvalpg.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	k := newConsoleKeys(t)
	// One CSRF secret for both instances, as behind a load balancer.
	policyFile := filepath.Join(k.dir, "policy.yaml")
	os.WriteFile(policyFile, []byte(financePolicy), 0o644)
	csrfFile := filepath.Join(k.dir, "csrf.secret")
	os.WriteFile(csrfFile, []byte("0123456789abcdef0123456789abcdef-shared"), 0o600)
	logPath := filepath.Join(k.dir, "fin.log")
	app := newFinanceApp(t, k, q, logPath)
	p := paymentArgs{AmountCents: 12000, Payee: "ACME"}
	_, err = app.call(t, p)
	var de *tools.DeniedError
	if !errors.As(err, &de) || de.Code != tools.CodeApprovalRequired {
		t.Fatalf("call: %v", err)
	}
	id := de.Approval.ID
	var srv [2]*httptest.Server
	for i := range srv {
		args := append(k.args(dsn, prefix, logPath, filepath.Join(k.dir, "console"+string(rune('a'+i))+".log")), "-csrf-secret", csrfFile, "-policy", policyFile)
		c, code, ok := parseConsole(args, io.Discard, io.Discard)
		if !ok {
			t.Fatalf("flags: %d", code)
		}
		h, closeAll, err := c.build(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(closeAll)
		srv[i] = httptest.NewServer(h)
		t.Cleanup(srv[i].Close)
	}
	alice, viewer := k.person(t, "alice", "approver"), k.person(t, "victor", "viewer")
	for _, s := range srv {
		if code, body := consoleGet(t, s.URL, "/approvals/"+id, viewer); code != 200 || !strings.Contains(body, `&#34;amount_cents&#34;: 12000`) {
			t.Fatalf("request on an instance: %d %s", code, body)
		}
	}
	_, page := consoleGet(t, srv[0].URL, "/", alice)
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)[1]
	// The form served by A, posted to B: the instances share the CSRF secret.
	req, _ := http.NewRequest("POST", srv[1].URL+"/approvals/"+id+"/approve", strings.NewReader(url.Values{"csrf": {csrf}, "ttl": {"5m"}}.Encode()))
	req.Header.Set("Authorization", "Bearer "+alice)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("approve on instance B with A's form: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	_, st := consoleGet(t, srv[0].URL, "/api/approvals/"+id, viewer)
	var one map[string]any
	if json.Unmarshal([]byte(st), &one); one["status"] != "approved" || one["approver"] != "alice" {
		t.Fatalf("instance A sees %s", st)
	}
	if _, list := consoleGet(t, srv[0].URL, "/api/approvals", viewer); list != "[]" {
		t.Fatalf("instance A still lists pending %s", list)
	}
	if out, err := app.call(t, p); err != nil || out != "paid" {
		t.Fatalf("retried call: %v %v", out, err)
	}
	if _, err := app.call(t, p); err == nil {
		t.Fatal("second retry ran")
	}
	_, timeline := consoleGet(t, srv[0].URL, "/sessions/sess-cli", viewer)
	if n := strings.Count(timeline, `data-verified="true"`); n != 4 || strings.Contains(timeline, `data-verified="false"`) {
		t.Fatalf("timeline has %d verified records: %s", n, timeline)
	}
	if _, page := consoleGet(t, srv[0].URL, "/identities", viewer); !strings.Contains(page, "<code>payments.initiate</code> with approval") {
		t.Fatalf("identities page without the policy's answer: %s", page)
	}
	// The console's own action log holds the approval, signed.
	l, err := audit.OpenLog(filepath.Join(k.dir, "consoleb.log"))
	if err != nil {
		t.Fatal(err)
	}
	var approved bool
	l.Events(func(e audit.Event) error {
		approved = approved || (e.Code == "console_approve" && e.Identity.Subject == "alice")
		return nil
	})
	if !approved {
		t.Fatal("the approval is not in instance B's log")
	}
}

// serve listens on the address given and stops when its context ends.
func TestConsoleServe(t *testing.T) {
	t.Parallel()
	c := &consoleFlags{addr: "127.0.0.1:0"}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- c.serve(ctx, http.NotFoundHandler(), pw) }()
	buf := make([]byte, 200)
	n, _ := pr.Read(buf)
	line := string(buf[:n])
	if !strings.HasPrefix(line, "console listening on http://127.0.0.1:") {
		t.Fatalf("serve said %q", line)
	}
	addr := strings.TrimSuffix(strings.TrimSpace(strings.TrimPrefix(line, "console listening on ")), "/")
	if resp, err := http.Get(addr + "/"); err != nil || resp.StatusCode != 404 {
		t.Fatalf("serving: %v", err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop")
	}
	// A proxy flag without the header is refused before anything opens.
	bad := &consoleFlags{proxyFrom: listFlag{"10.0.0.0/8"}}
	if _, err := bad.proxy(); err == nil {
		t.Fatal("-proxy-from without -proxy-header accepted")
	}
}
