package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
)

//go:embed policy.yaml
var policyYAML []byte

const (
	issuerURL   = "https://identity.finance.example"
	approverURL = "https://approvals.finance.example"
	audience    = "finance-tools"
	logName     = "modelguard-finance-audit.jsonl"
	approver    = "bob@finance.example"
	grantTTL    = 15 * time.Minute
)

func main() {
	dir := flag.String("dir", os.TempDir(), "directory for the audit log")
	addr := flag.String("console", "", "serve the operator console on `address` (127.0.0.1:8080) and wait for a human there")
	flag.Parse()
	var err error
	if *addr != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		err = runConsole(ctx, os.Stdout, *dir, *addr)
	} else {
		err = run(os.Stdout, *dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "finance:", err)
		os.Exit(1)
	}
}

type (
	customerName struct {
		Customer string `json:"customer"`
	}
	summary struct {
		Customer   string   `json:"customer"`
		Invoices   int      `json:"invoices"`
		TotalCents int64    `json:"total_cents"`
		Overdue    []string `json:"overdue"`
	}
	payment struct {
		Invoice     string `json:"invoice"`
		AmountCents int64  `json:"amount_cents"`
		Payee       string `json:"payee"`
	}
	receipt struct {
		Payment string `json:"payment"`
		Status  string `json:"status"`
	}
)

// The plain tools.

func summarize(_ context.Context, c customerName) (summary, error) {
	return summary{Customer: c.Customer, Invoices: 3, TotalCents: 21000, Overdue: []string{"INV-7"}}, nil
}

// ledger is where payments go.
type ledger struct {
	mu   sync.Mutex
	paid []payment
}

func (l *ledger) initiate(_ context.Context, p payment) (receipt, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.paid = append(l.paid, p)
	return receipt{Payment: fmt.Sprintf("PAY-%d", len(l.paid)), Status: "submitted"}, nil
}

// clock is the simulated time every party reads, so that the example can let a
// grant expire without waiting.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// world is the finance desk: guarded tools, approval queue, the human
// approver's key and the identity service that gives the model its tokens.
type world struct {
	clock    *clock
	ledger   ledger
	reg      *tools.Registry
	queue    *tools.MemoryApprovals
	issuer   *identity.Issuer // the model's identity service
	approver *identity.Issuer // signs grants for the human approver
	w        io.Writer
	calls    int
	approved map[string]string // argument digest → the request that approved it
}

func run(w io.Writer, dir string) error {
	logPath := filepath.Join(dir, logName)
	for _, f := range []string{logPath, logPath + ".hashes", logPath + ".checkpoint"} {
		_ = os.Remove(f) // each run starts a fresh log (see audit.File)
	}
	log, err := audit.OpenFile(logPath, audit.FileOptions{})
	if err != nil {
		return err
	}
	defer log.Close()
	s, err := setup(log, w)
	if err != nil {
		return err
	}
	inv7 := `{"invoice":"INV-7","amount_cents":12000,"payee":"ACME GmbH"}`
	inv8 := `{"invoice":"INV-8","amount_cents":9000,"payee":"ACME GmbH"}`
	s.model("invoices.summarize", `{"customer":"ACME GmbH"}`)
	s.model("payments.initiate", inv7)
	if err := s.review(); err != nil {
		return err
	}
	s.model("payments.initiate", inv7)
	s.model("payments.initiate", inv7) // a duplicate: the grant was single-use
	s.model("payments.initiate", inv8)
	if err := s.review(); err != nil {
		return err
	}
	s.wait(20 * time.Minute)
	s.model("payments.initiate", inv8) // too late: the grant expired
	s.model("payments.initiate", `{"invoice":"INV-9","amount_cents":900000,"payee":"Mallory Ltd"}`)
	fmt.Fprintf(w, "ledger  %d payment(s) made\n", len(s.ledger.paid))
	if err := log.Close(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nAudit log: %s\n", logPath)
	return nil
}

// model makes one tool call as the model would, with a fresh identity token,
// and prints what it was told.
func (s *world) model(tool, args string) {
	s.calls++
	token, err := s.issuer.Mint(identity.Claims{Subject: "model:finance-1", Audience: []string{audience},
		Agent: "finance-bot", Scope: "invoices:read"})
	if err != nil {
		fmt.Fprintln(s.w, "model  no token:", err)
		return
	}
	ctx := tools.WithCall(identity.WithToken(context.Background(), token),
		tools.Call{ID: fmt.Sprintf("call-%d", s.calls), SessionID: "finance-session-1"})
	out, err := s.reg.Call(ctx, tool, json.RawMessage(args))
	if err != nil {
		fmt.Fprintf(s.w, "%s model  %s %s\n       DENY  %s\n", s.stamp(), tool, args, err)
		return
	}
	fmt.Fprintf(s.w, "%s model  %s %s\n       ALLOW %s\n", s.stamp(), tool, args, out)
}

// review is the human approver: each pending request shows who asks, for which
// tool and with which arguments; the approver signs a grant for exactly that
// call, valid for grantTTL, and refuses a request for a payment already approved
// (a model retrying a call its single-use grant was spent on).
func (s *world) review() error {
	ctx := context.Background()
	pending, err := s.queue.List(ctx, tools.StatusPending)
	if err != nil {
		return err
	}
	for _, req := range pending {
		if first := s.approved[req.ArgsDigest]; first != "" {
			if err := s.queue.Deny(ctx, req.ID, approver, "duplicate of "+first); err != nil {
				return err
			}
			fmt.Fprintf(s.w, "%s human  %s denies %s: %s was approved and paid already\n", s.stamp(), approver, req.ID, first)
			continue
		}
		s.approved[req.ArgsDigest] = req.ID
		grant, err := tools.MintGrant(s.approver, tools.GrantSpec{ModelIssuer: req.Issuer, Subject: req.Subject,
			Audience: []string{audience}, Tools: []string{req.Tool}, ArgsDigest: req.ArgsDigest,
			Approver: approver, Request: req.ID, Expiry: s.clock.Now().Add(grantTTL)})
		if err != nil {
			return err
		}
		if err := s.queue.Approve(ctx, req.ID, approver, grant); err != nil {
			return err
		}
		fmt.Fprintf(s.w, "%s human  %s approves %s: %s %s %s, valid %v\n",
			s.stamp(), approver, req.ID, req.Subject, req.Tool, req.Args, grantTTL)
	}
	return nil
}

func (s *world) wait(d time.Duration) {
	s.clock.Advance(d)
	fmt.Fprintf(s.w, "%s (the model comes back %v later)\n", s.stamp(), d)
}

func (s *world) stamp() string { return s.clock.Now().Format("15:04") }

func setup(sink audit.Sink, w io.Writer) (*world, error) {
	s := &world{clock: &clock{now: time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)}, w: w, approved: map[string]string{}}
	var verifier, grants *identity.Verifier
	var err error
	if s.issuer, verifier, err = keyPair(issuerURL, s.clock.Now, identity.NewIssuer, identity.NewVerifier); err != nil {
		return nil, err
	}
	if s.approver, grants, err = keyPair(approverURL, s.clock.Now, tools.NewGrantIssuer, tools.NewGrantVerifier); err != nil {
		return nil, err
	}
	rules, err := policy.Parse("policy.yaml", policyYAML)
	if err != nil {
		return nil, err
	}
	set, err := policy.NewSet(rules, policy.Options{})
	if err != nil {
		return nil, err
	}
	s.queue = tools.NewMemoryApprovals(s.clock.Now)
	enf, err := tools.NewEnforcer(verifier, set, sink, tools.Options{Now: s.clock.Now,
		Approvals: tools.ApprovalOptions{Verifier: grants, Queue: s.queue}})
	if err != nil {
		return nil, err
	}
	sum, err1 := tools.NewGuard(enf, tools.Tool{Name: "invoices.summarize"}, summarize)
	pay, err2 := tools.NewGuard(enf, tools.Tool{Name: "payments.initiate"}, s.ledger.initiate)
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	s.reg, err = tools.NewRegistry(enf, sum, pay)
	return s, err
}

// keyPair makes a fresh signing key, an issuer with it and a verifier of what it
// signs: identity tokens, or (with tools.NewGrantIssuer and NewGrantVerifier)
// approval grants. Both read now.
func keyPair(iss string, now func() time.Time,
	newIssuer func(string, jose.JSONWebKey, identity.IssuerOptions) (*identity.Issuer, error),
	newVerifier func(string, string, identity.Keys, identity.VerifierOptions) (*identity.Verifier, error),
) (*identity.Issuer, *identity.Verifier, error) {
	key, err := identity.GenerateKey(jose.EdDSA, "")
	if err != nil {
		return nil, nil, err
	}
	issuer, err := newIssuer(iss, key, identity.IssuerOptions{Now: now})
	if err != nil {
		return nil, nil, err
	}
	keys, err := identity.NewKeySet(issuer.PublicKey())
	if err != nil {
		return nil, nil, err
	}
	v, err := newVerifier(iss, audience, keys, identity.VerifierOptions{Now: now})
	return issuer, v, err
}
