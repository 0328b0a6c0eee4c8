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
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
)

//go:embed policy.yaml
var policyYAML []byte

const (
	issuerURL = "https://identity.support.example"
	audience  = "support-tools"
	logName   = "modelguard-support-audit.jsonl"
)

func main() {
	dir := flag.String("dir", os.TempDir(), "directory for the audit log")
	flag.Parse()
	if err := run(os.Stdout, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "support:", err)
		os.Exit(1)
	}
}

// The helpdesk's data and tool types. JSON names are what policy and redaction
// paths use.
type (
	customer struct {
		Name  string `json:"name"`
		Email string `json:"email"`
	}
	ticket struct {
		ID          string   `json:"id"`
		Subject     string   `json:"subject"`
		Status      string   `json:"status"`
		Customer    customer `json:"customer"`
		Attachments []string `json:"attachments,omitempty"`
	}
	ticketID struct {
		ID string `json:"id"`
	}
	searchQuery struct {
		Query string `json:"query"`
	}
	searchResults struct {
		Results []ticket `json:"results"`
	}
	statusChange struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	}
)

var helpdesk = map[string]ticket{
	"T-1001": {ID: "T-1001", Subject: "Printer on fire", Status: "open",
		Customer: customer{Name: "Ann Lee", Email: "ann.lee@customer.example"}, Attachments: []string{"photo.jpg"}},
	"T-1002": {ID: "T-1002", Subject: "Printer out of toner", Status: "open",
		Customer: customer{Name: "Bo Chen", Email: "bo.chen@customer.example"}},
}

// The plain tools. They know nothing of identity, policy or redaction.

func getTicket(_ context.Context, in ticketID) (ticket, error) {
	t, ok := helpdesk[in.ID]
	if !ok {
		return ticket{}, fmt.Errorf("no ticket %s", in.ID)
	}
	return t, nil
}

func searchTickets(_ context.Context, in searchQuery) (searchResults, error) {
	var out searchResults
	for _, id := range []string{"T-1001", "T-1002"} {
		if t := helpdesk[id]; strings.Contains(strings.ToLower(t.Subject), strings.ToLower(in.Query)) {
			out.Results = append(out.Results, t)
		}
	}
	return out, nil
}

func updateTicket(_ context.Context, in statusChange) (ticket, error) {
	t := helpdesk[in.ID]
	t.Status = in.Status
	return t, nil
}

func exportAttachments(_ context.Context, in ticketID) ([]byte, error) {
	return []byte("%PDF-1.7 customer attachment"), nil
}

// call is one tool call of the scripted model.
type call struct{ tool, args string }

// script is what the support model asks for while answering "Is the printer
// fire ticket resolved? Send me the photo."
var script = []call{
	{"tickets.search", `{"query":"printer"}`},
	{"tickets.get", `{"id":"T-1001"}`},
	{"tickets.update", `{"id":"T-1001","status":"closed"}`},
	{"attachments.export", `{"id":"T-1001"}`},
	{"customers.export", `{"all":true}`},
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
	issuer, reg, err := setup(log)
	if err != nil {
		return err
	}
	token, err := issuer.Mint(identity.Claims{Subject: "model:support-1", Audience: []string{audience},
		Agent: "support-bot", Scope: "tickets:read", Model: identity.Model{Provider: "example", Name: "helpdesk-model"}})
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "The support model may use:", names(reg.Visible(identity.WithToken(context.Background(), token))))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "\nTOOL\tARGS\tDECISION\tWHAT THE MODEL SAW")
	for i, c := range script {
		ctx := tools.WithCall(identity.WithToken(context.Background(), token),
			tools.Call{ID: fmt.Sprintf("call-%d", i+1), SessionID: "support-session-1", PromptID: "turn-1"})
		out, err := reg.Call(ctx, c.tool, json.RawMessage(c.args))
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.tool, c.args, verdict(err), seen(out, err))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := log.Close(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nAudit log: %s\n", logPath)
	return nil
}

// setup builds the identity issuer (standing in for the identity service) and
// the registry of guarded tools.
func setup(sink audit.Sink) (*identity.Issuer, *tools.Registry, error) {
	key, err := identity.GenerateKey(jose.EdDSA, "")
	if err != nil {
		return nil, nil, err
	}
	issuer, err := identity.NewIssuer(issuerURL, key, identity.IssuerOptions{})
	if err != nil {
		return nil, nil, err
	}
	keys, err := identity.NewKeySet(issuer.PublicKey())
	if err != nil {
		return nil, nil, err
	}
	verifier, err := identity.NewVerifier(issuerURL, audience, keys, identity.VerifierOptions{})
	if err != nil {
		return nil, nil, err
	}
	rules, err := policy.Parse("policy.yaml", policyYAML)
	if err != nil {
		return nil, nil, err
	}
	set, err := policy.NewSet(rules, policy.Options{})
	if err != nil {
		return nil, nil, err
	}
	enf, err := tools.NewEnforcer(verifier, set, sink, tools.Options{})
	if err != nil {
		return nil, nil, err
	}
	get, err1 := tools.NewGuard(enf, tools.Tool{Name: "tickets.get", Labels: []string{"readOnly"}}, getTicket)
	search, err2 := tools.NewGuard(enf, tools.Tool{Name: "tickets.search", Labels: []string{"readOnly"}}, searchTickets)
	update, err3 := tools.NewGuard(enf, tools.Tool{Name: "tickets.update"}, updateTicket)
	export, err4 := tools.NewGuard(enf, tools.Tool{Name: "attachments.export", Labels: []string{"exportsData"}}, exportAttachments)
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return nil, nil, err
	}
	reg, err := tools.NewRegistry(enf, get, search, update, export)
	return issuer, reg, err
}

func names(hs []tools.Handler) string {
	var s []string
	for _, h := range hs {
		s = append(s, h.Tool().Name)
	}
	return strings.Join(s, ", ")
}

func verdict(err error) string {
	if err == nil {
		return "ALLOW"
	}
	return "DENY"
}

// seen is what the model is told: the redacted output, or the denial's
// model-safe text (the reason code and the rule's message, never the rule).
func seen(out json.RawMessage, err error) string {
	if err != nil {
		return err.Error()
	}
	return string(out)
}
