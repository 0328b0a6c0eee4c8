package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
)

//go:embed policy.yaml
var policyYAML []byte

const (
	issuerURL = "https://identity.lab.example"
	audience  = "research-tools"
	logName   = "modelguard-research-audit.jsonl"
	session   = "research-42"
)

func main() {
	dir := flag.String("dir", os.TempDir(), "directory for the audit log")
	flag.Parse()
	if err := run(os.Stdout, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "research:", err)
		os.Exit(1)
	}
}

// turn is one user prompt and the searches the model made to answer it.
type turn struct {
	prompt, text string
	searches     []string // JSON arguments of vectors.search
}

var conversation = []turn{
	{"prompt-1", "What limits how far our drone can fly?", []string{
		`{"query":"drone battery energy density","collection":"papers","k":2}`,
		`{"query":"drone range in strong wind","collection":"notes","k":1}`,
	}},
	{"prompt-2", "And what do our engineers earn?", []string{
		`{"query":"engineering salary bands","collection":"hr","k":3}`,
	}},
	{"prompt-3", "Would lithium-sulfur cells help?", []string{
		`{"query":"lithium-sulfur energy density","collection":"papers","k":1}`,
	}},
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
	issuer, reg, err := setup(log, newStore(corpus))
	if err != nil {
		return err
	}
	token, err := issuer.Mint(identity.Claims{Subject: "model:research-3", Audience: []string{audience}, Agent: "research-bot",
		Model: identity.Model{Provider: "example", Name: "lab-model", Version: "2026-11"}})
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "The conversation, as the application saw it:")
	for _, t := range conversation {
		fmt.Fprintf(w, "  %s %q\n", t.prompt, t.text)
		for i, args := range t.searches {
			ctx := tools.WithCall(identity.WithToken(context.Background(), token),
				tools.Call{ID: fmt.Sprintf("%s-call-%d", t.prompt, i+1), SessionID: session, PromptID: t.prompt})
			out, err := reg.Call(ctx, "vectors.search", json.RawMessage(args))
			if err != nil {
				fmt.Fprintf(w, "    search %s -> %v\n", args, err)
				continue
			}
			fmt.Fprintf(w, "    search %s -> %s\n", args, out)
		}
	}
	if err := log.Close(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nReconstructed from the audit log alone (modelguard audit query -session %s %s):\n", session, logPath)
	return reconstruct(w, logPath)
}

// reconstruct rebuilds the session from the log: for each prompt, each call it
// led to, with its arguments, its decision and the passages the model read.
func reconstruct(w io.Writer, logPath string) error {
	l, err := audit.OpenLog(logPath)
	if err != nil {
		return err
	}
	if _, err := l.Verify(audit.VerifyOptions{}); err != nil {
		return fmt.Errorf("audit log does not verify: %w", err)
	}
	prompt := ""
	return l.Query(audit.Filter{Session: session}, func(e audit.Event) error {
		if e.PromptID != prompt {
			prompt = e.PromptID
			fmt.Fprintf(w, "  %s (model %s, %s)\n", prompt, e.Identity.ModelName, e.Identity.Subject)
		}
		switch {
		case e.Phase == audit.PhaseDecision && e.Decision == audit.Deny:
			fmt.Fprintf(w, "    %s %s %s: denied (%s) by %s\n", e.CallID, e.Tool, e.Args, e.Code, strings.Join(e.Rules, ","))
		case e.Phase == audit.PhaseDecision:
			fmt.Fprintf(w, "    %s %s %s: allowed by %s\n", e.CallID, e.Tool, e.Args, strings.Join(e.Rules, ","))
		case e.Phase == audit.PhaseOutcome:
			fmt.Fprintf(w, "    %s returned %s\n", e.CallID, seen(e))
		}
		return nil
	})
}

// seen summarises what a search returned: the passages' ids and titles.
func seen(e audit.Event) string {
	var h hits
	if e.Outcome != audit.OutcomeOK || json.Unmarshal(e.Output, &h) != nil {
		return e.Outcome + " " + e.OutputDigest
	}
	var titles []string
	for _, x := range h.Hits {
		titles = append(titles, fmt.Sprintf("%s %q", x.ID, x.Title))
	}
	return strings.Join(titles, ", ")
}

func setup(sink audit.Sink, s *store) (*identity.Issuer, *tools.Registry, error) {
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
	// RecordArgs and RecordOutput keep each query and the passages it returned
	// in the log, beside their digests: the log must say what the model asked
	// and what it read, not only that it did.
	enf, err := tools.NewEnforcer(verifier, set, sink, tools.Options{RecordArgs: true, RecordOutput: true})
	if err != nil {
		return nil, nil, err
	}
	search, err := tools.NewGuard(enf, tools.Tool{Name: "vectors.search", Labels: []string{"readOnly"}}, s.search)
	if err != nil {
		return nil, nil, err
	}
	reg, err := tools.NewRegistry(enf, search)
	return issuer, reg, err
}
