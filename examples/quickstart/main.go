package main

import (
	"context"
	"crypto/rand"
	_ "embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/mod/sumdb/note"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
)

//go:embed policy.yaml
var policyYAML []byte

const (
	issuerURL = "https://identity.quickstart.local"
	audience  = "quickstart-tools"
)

func main() {
	dir := flag.String("dir", os.TempDir(), "directory for the audit log")
	flag.Parse()
	if err := run(os.Stdout, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// Tool inputs and outputs. The JSON tags are the names policy uses (args.path).
type (
	ticketQuery struct {
		ID string `json:"id"`
	}
	ticket struct {
		ID, Subject string
	}
	repoPath struct {
		Path string `json:"path"`
	}
	secretName struct {
		Name string `json:"name"`
	}
)

// service is the quickstart's world: an identity issuer and the guarded tools.
type service struct {
	issuer           *identity.Issuer
	getTicket        func(context.Context, ticketQuery) (ticket, error)
	exportAttachment func(context.Context, ticketQuery) ([]byte, error)
	readRepo         func(context.Context, repoPath) (string, error)
	getSecret        func(context.Context, secretName) (string, error)
}

func run(w io.Writer, dir string) error {
	logPath := filepath.Join(dir, "modelguard-quickstart-audit.jsonl")
	for _, f := range []string{logPath, logPath + ".hashes", logPath + ".checkpoint"} {
		_ = os.Remove(f) // each run starts a fresh log
	}
	// The log's checkpoints are signed, so an investigator holding the verifier
	// key (written beside the log) can tell the log was not rewritten. A real
	// deployment makes this key once (modelguard audit keygen) and keeps it.
	skey, vkey, err := note.GenerateKey(rand.Reader, "quickstart.modelguard.example/audit")
	if err != nil {
		return err
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		return err
	}
	pubPath := filepath.Join(dir, "modelguard-quickstart-audit.pub")
	if err := os.WriteFile(pubPath, []byte(vkey+"\n"), 0o644); err != nil {
		return err
	}
	log, err := audit.OpenFile(logPath, audit.FileOptions{Signer: signer})
	if err != nil {
		return err
	}
	defer log.Close()
	svc, err := newService(log)
	if err != nil {
		return err
	}
	support, err := svc.token("model:support-1", "support-bot", "tickets:read")
	if err != nil {
		return err
	}
	coder, err := svc.token("model:coder-7", "coding-assistant", "repo:read")
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "IDENTITY\tTOOL\tARGS\tDECISION\tREASON / RESULT")
	calls := []struct {
		who, token, tool, args string
		call                   func(context.Context) (any, error)
	}{
		{"support-bot", support, "tickets.get", "T-1001", func(ctx context.Context) (any, error) { return svc.getTicket(ctx, ticketQuery{ID: "T-1001"}) }},
		{"support-bot", support, "attachments.export", "T-1001", func(ctx context.Context) (any, error) { return svc.exportAttachment(ctx, ticketQuery{ID: "T-1001"}) }},
		{"support-bot", support, "repo.read", "src/main.go", func(ctx context.Context) (any, error) { return svc.readRepo(ctx, repoPath{Path: "src/main.go"}) }},
		{"coding-assistant", coder, "repo.read", "src/main.go", func(ctx context.Context) (any, error) { return svc.readRepo(ctx, repoPath{Path: "src/main.go"}) }},
		{"coding-assistant", coder, "repo.read", ".env", func(ctx context.Context) (any, error) { return svc.readRepo(ctx, repoPath{Path: ".env"}) }},
		{"coding-assistant", coder, "secrets.get", "prod/db-password", func(ctx context.Context) (any, error) {
			return svc.getSecret(ctx, secretName{Name: "prod/db-password"})
		}},
		{"coding-assistant", coder, "tickets.get", "T-1001", func(ctx context.Context) (any, error) { return svc.getTicket(ctx, ticketQuery{ID: "T-1001"}) }},
		{"(no token)", "", "tickets.get", "T-1001", func(ctx context.Context) (any, error) { return svc.getTicket(ctx, ticketQuery{ID: "T-1001"}) }},
	}
	for i, c := range calls {
		ctx := tools.WithCall(context.Background(), tools.Call{ID: fmt.Sprintf("call-%d", i+1), SessionID: "quickstart-session"})
		if c.token != "" {
			ctx = identity.WithToken(ctx, c.token)
		}
		out, err := c.call(ctx)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.who, c.tool, c.args, verdict(err), result(out, err))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nAudit log (%d records, one JSON object a line): %s\n", countRecords(logPath), logPath)
	fmt.Fprintf(w, "Check it:  go run ./cmd/modelguard audit verify -key %s %s\n", pubPath, logPath)
	fmt.Fprintf(w, "Query it:  go run ./cmd/modelguard audit query -session quickstart-session %s\n", logPath)
	return nil
}

func newService(sink audit.Sink) (*service, error) {
	key, err := identity.GenerateKey(jose.EdDSA, "")
	if err != nil {
		return nil, err
	}
	issuer, err := identity.NewIssuer(issuerURL, key, identity.IssuerOptions{})
	if err != nil {
		return nil, err
	}
	keys, err := identity.NewKeySet(issuer.PublicKey())
	if err != nil {
		return nil, err
	}
	verifier, err := identity.NewVerifier(issuerURL, audience, keys, identity.VerifierOptions{})
	if err != nil {
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
	enf, err := tools.NewEnforcer(verifier, set, sink, tools.Options{})
	if err != nil {
		return nil, err
	}
	svc := &service{issuer: issuer}
	return svc, svc.wrap(enf)
}

// wrap guards the plain tool functions. Each guarded function has the plain one's
// signature.
func (s *service) wrap(enf *tools.Enforcer) error {
	var errs [4]error
	s.getTicket, errs[0] = tools.Wrap(enf, tools.Tool{Name: "tickets.get", Labels: []string{"readOnly"}}, getTicket)
	s.exportAttachment, errs[1] = tools.Wrap(enf, tools.Tool{Name: "attachments.export", Labels: []string{"exportsData"}}, exportAttachment)
	s.readRepo, errs[2] = tools.Wrap(enf, tools.Tool{Name: "repo.read", Labels: []string{"readOnly"}}, readRepo)
	s.getSecret, errs[3] = tools.Wrap(enf, tools.Tool{Name: "secrets.get"}, getSecret)
	return errors.Join(errs[:]...)
}

func (s *service) token(sub, agent, scope string) (string, error) {
	return s.issuer.Mint(identity.Claims{
		Subject: sub, Audience: []string{audience}, Agent: agent, Scope: scope, Env: "staging",
		Model: identity.Model{Provider: "example", Name: "assistant", Version: "1"},
	})
}

// The plain tools. They know nothing of identity or policy.

func getTicket(_ context.Context, q ticketQuery) (ticket, error) {
	return ticket{ID: q.ID, Subject: "Printer on fire"}, nil
}

func exportAttachment(_ context.Context, q ticketQuery) ([]byte, error) {
	return []byte("%PDF-1.7 customer invoice"), nil
}

func readRepo(_ context.Context, p repoPath) (string, error) {
	return "package main // " + p.Path, nil
}

func getSecret(_ context.Context, n secretName) (string, error) {
	return "s3cr3t", nil
}

func verdict(err error) string {
	if err == nil {
		return "ALLOW"
	}
	return "DENY"
}

func result(out any, err error) string {
	var de *tools.DeniedError
	switch {
	case errors.As(err, &de):
		why := de.Messages // what the model sees
		if len(why) == 0 {
			why = de.Reasons // the operator's explanation
		}
		return fmt.Sprintf("[%s] %s", de.Code, strings.Join(why, "; "))
	case err != nil:
		return err.Error()
	default:
		s := fmt.Sprintf("%v", out)
		if len(s) > 40 {
			s = s[:40] + "…"
		}
		return s
	}
}

func countRecords(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	_ = audit.ReadLog(f, func(audit.Event) error { n++; return nil })
	return n
}
