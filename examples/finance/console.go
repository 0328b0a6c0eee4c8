package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/mod/sumdb/note"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/tools"
	"github.com/modelguard/modelguard/tools/console"
)

// consoleAudience is the audience of the approver's sign-in token.
const consoleAudience = "modelguard-console"

// runConsole plays the payment with a real human: it serves the operator
// console on addr over the desk's approval queue and its signed audit log,
// prints the approver's sign-in token, makes the model's payment, waits until
// the request is decided in the console, retries it (once, and once more to
// show the grant is spent), then serves the session explorer until ctx ends.
func runConsole(ctx context.Context, w io.Writer, dir, addr string) error {
	logPath := filepath.Join(dir, logName)
	for _, f := range []string{logPath, logPath + ".hashes", logPath + ".checkpoint"} {
		_ = os.Remove(f)
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, "finance.example/audit")
	if err != nil {
		return err
	}
	signer, _ := note.NewSigner(skey)
	verifier, _ := note.NewVerifier(vkey)
	log, err := audit.OpenFile(logPath, audit.FileOptions{Signer: signer, CheckpointEvery: 1})
	if err != nil {
		return err
	}
	defer log.Close()
	s, err := setup(log, w)
	if err != nil {
		return err
	}
	h, people, err := s.console(log, logPath, note.VerifierList(verifier))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	tok, err := people.Mint(identity.Claims{Subject: approver, Audience: []string{consoleAudience}, Raw: map[string]any{"role": console.RoleApprover}})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "console %s/ — sign in as %s with the token\n%s\n", base, approver, tok)
	inv7 := `{"invoice":"INV-7","amount_cents":12000,"payee":"ACME GmbH"}`
	s.model("payments.initiate", inv7)
	pending, err := s.queue.List(ctx, tools.StatusPending)
	if err != nil || len(pending) != 1 {
		return errors.Join(err, errors.New("finance: no pending request"))
	}
	fmt.Fprintf(w, "console approve or deny it at %s/approvals/%s\n", base, pending[0].ID)
	req, err := waitDecided(ctx, s.queue, pending[0].ID)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "console %s %s by %s\n", req.ID, req.Status, req.Approver)
	s.model("payments.initiate", inv7)
	s.model("payments.initiate", inv7) // the grant was single-use
	fmt.Fprintf(w, "ledger  %d payment(s) made\nconsole the session, each record proven: %s/sessions/finance-session-1 (interrupt to stop)\n",
		len(s.ledger.paid), base)
	<-ctx.Done()
	return nil
}

// console builds the operator console over the desk: the approver signs in
// with a token of the desk's sign-in issuer, which console returns.
func (s *world) console(log *audit.File, logPath string, keys note.Verifiers) (http.Handler, *identity.Issuer, error) {
	key, err := identity.GenerateKey(jose.EdDSA, "")
	if err != nil {
		return nil, nil, err
	}
	people, err := identity.NewIssuer("https://sso.finance.example", key, identity.IssuerOptions{Now: s.clock.Now, TTL: time.Hour})
	if err != nil {
		return nil, nil, err
	}
	pks, err := identity.NewKeySet(people.PublicKey())
	if err != nil {
		return nil, nil, err
	}
	pv, err := identity.NewVerifier("https://sso.finance.example", consoleAudience, pks, identity.VerifierOptions{Now: s.clock.Now})
	if err != nil {
		return nil, nil, err
	}
	rd, err := audit.OpenLog(logPath)
	if err != nil {
		return nil, nil, err
	}
	h, err := console.New(console.Config{Queue: s.queue, Verifier: pv, Grants: s.approver, GrantAudience: []string{audience},
		MaxGrantTTL: grantTTL, Audit: log, Log: rd, LogKeys: keys, Now: s.clock.Now})
	return h, people, err
}

// waitDecided polls the queue until request id is approved or denied.
func waitDecided(ctx context.Context, q tools.ApprovalQueue, id string) (tools.ApprovalRequest, error) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		r, err := q.Get(ctx, id)
		if err != nil || r.Status != tools.StatusPending {
			return r, err
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-t.C:
		}
	}
}
