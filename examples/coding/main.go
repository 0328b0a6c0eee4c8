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

	"github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
)

//go:embed policy.yaml
var policyYAML []byte

const (
	issuerURL   = "https://identity.dev.example"
	approverURL = "https://approvals.dev.example"
	audience    = "dev-tools"
	logName     = "modelguard-coding-audit.jsonl"
	approver    = "alice@dev.example"
)

// vault stands in for the secret store the deploy tool's token comes from.
var vault = map[string]string{
	"deploy-token":     "dtok_live_7f3a9c2e51b8",
	"prod/db-password": "pg-prod-Xq8vR2mT",
}

func main() {
	dir := flag.String("dir", os.TempDir(), "directory for the audit log")
	flag.Parse()
	if err := run(os.Stdout, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "coding:", err)
		os.Exit(1)
	}
}

type (
	repoPath struct {
		Path string `json:"path"`
	}
	deployment struct {
		Env string `json:"env"`
		Ref string `json:"ref"`
	}
	deployResult struct {
		Env string `json:"env"`
		Ref string `json:"ref"`
		Log string `json:"log"`
	}
	secretName struct {
		Name string `json:"name"`
	}
)

// The plain tools.

func readRepo(_ context.Context, p repoPath) (string, error) {
	return "package main // " + p.Path, nil
}

// deploy uses the deploy token, which reaches it only through its ctx. It is
// careless with it on purpose: the guard scrubs it from what the tool returns.
func deploy(ctx context.Context, d deployment) (deployResult, error) {
	token, ok := tools.SecretFromContext(ctx, "deploy-token")
	if !ok {
		return deployResult{}, errors.New("no deploy token")
	}
	return deployResult{Env: d.Env, Ref: d.Ref, Log: "POST /pipelines/" + d.Env + " Authorization: Bearer " + token + ": 201 Created"}, nil
}

func readSecret(_ context.Context, s secretName) (string, error) {
	return vault[s.Name], nil
}

// world is the session: the guarded tools, the approval queue, the human
// approver's signing key and the model's identity.
type world struct {
	reg      *tools.Registry
	queue    *tools.MemoryApprovals
	approver *identity.Issuer
	ctx      context.Context // the model's identity
	w        io.Writer
	calls    int
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
	s.model("repo.read", `{"path":"src/main.go"}`)
	s.model("repo.read", `{"path":".env"}`)
	s.model("deploy.run", `{"env":"staging","ref":"a1b2c3d"}`)
	s.model("deploy.run", `{"env":"production","ref":"a1b2c3d"}`)
	s.model("secrets.read", `{"name":"prod/db-password"}`)
	if err := s.review(); err != nil {
		return err
	}
	s.model("deploy.run", `{"env":"production","ref":"a1b2c3d"}`)
	s.model("secrets.read", `{"name":"prod/db-password"}`)
	s.model("deploy.run", `{"env":"production","ref":"a1b2c3d"}`)
	if err := log.Close(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nAudit log: %s\n", logPath)
	return nil
}

// model makes one tool call as the model would, and prints what it was told.
func (s *world) model(tool, args string) {
	s.calls++
	ctx := tools.WithCall(s.ctx, tools.Call{ID: fmt.Sprintf("call-%d", s.calls), SessionID: "coding-session-1"})
	out, err := s.reg.Call(ctx, tool, json.RawMessage(args))
	if err != nil {
		fmt.Fprintf(s.w, "model  %-12s %-44s DENY  %s\n", tool, args, err)
		return
	}
	fmt.Fprintf(s.w, "model  %-12s %-44s ALLOW %s\n", tool, args, out)
}

// review is the human approver going through the pending requests: production
// deploys are approved (for this exact call, once), secrets are not.
func (s *world) review() error {
	ctx := context.Background()
	pending, err := s.queue.List(ctx, tools.StatusPending)
	if err != nil {
		return err
	}
	for _, req := range pending {
		if req.Tool != "deploy.run" {
			fmt.Fprintf(s.w, "human  %s denies %s %s\n", approver, req.Tool, req.Args)
			if err := s.queue.Deny(ctx, req.ID, approver, "secrets stay with humans"); err != nil {
				return err
			}
			continue
		}
		grant, err := tools.MintGrant(s.approver, tools.GrantSpec{ModelIssuer: req.Issuer, Subject: req.Subject,
			Audience: []string{audience}, Tools: []string{req.Tool}, ArgsDigest: req.ArgsDigest, Approver: approver, Request: req.ID})
		if err != nil {
			return err
		}
		fmt.Fprintf(s.w, "human  %s approves %s %s, once\n", approver, req.Tool, req.Args)
		if err := s.queue.Approve(ctx, req.ID, approver, grant); err != nil {
			return err
		}
	}
	return nil
}

func setup(sink audit.Sink, w io.Writer) (*world, error) {
	issuer, verifier, err := keyPair(issuerURL, identity.NewIssuer, identity.NewVerifier)
	if err != nil {
		return nil, err
	}
	approver, grants, err := keyPair(approverURL, tools.NewGrantIssuer, tools.NewGrantVerifier)
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
	s := &world{queue: tools.NewMemoryApprovals(nil), approver: approver, w: w}
	enf, err := tools.NewEnforcer(verifier, set, sink, tools.Options{
		Approvals: tools.ApprovalOptions{Verifier: grants, Queue: s.queue},
		Secrets:   tools.SecretFunc(func(_ context.Context, name string) (string, error) { return vault[name], nil }),
	})
	if err != nil {
		return nil, err
	}
	read, err1 := tools.NewGuard(enf, tools.Tool{Name: "repo.read"}, readRepo)
	run, err2 := tools.NewGuard(enf, tools.Tool{Name: "deploy.run", Secrets: []string{"deploy-token"}}, deploy)
	secret, err3 := tools.NewGuard(enf, tools.Tool{Name: "secrets.read"}, readSecret)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, err
	}
	if s.reg, err = tools.NewRegistry(enf, read, run, secret); err != nil {
		return nil, err
	}
	token, err := issuer.Mint(identity.Claims{Subject: "model:coder-7", Audience: []string{audience}, Agent: "coding-assistant"})
	s.ctx = identity.WithToken(context.Background(), token)
	return s, err
}

// keyPair makes a fresh signing key, an issuer with it and a verifier of what it
// signs: identity tokens, or (with tools.NewGrantIssuer and NewGrantVerifier)
// approval grants.
func keyPair(iss string,
	newIssuer func(string, jose.JSONWebKey, identity.IssuerOptions) (*identity.Issuer, error),
	newVerifier func(string, string, identity.Keys, identity.VerifierOptions) (*identity.Verifier, error),
) (*identity.Issuer, *identity.Verifier, error) {
	key, err := identity.GenerateKey(jose.EdDSA, "")
	if err != nil {
		return nil, nil, err
	}
	issuer, err := newIssuer(iss, key, identity.IssuerOptions{})
	if err != nil {
		return nil, nil, err
	}
	keys, err := identity.NewKeySet(issuer.PublicKey())
	if err != nil {
		return nil, nil, err
	}
	v, err := newVerifier(iss, audience, keys, identity.VerifierOptions{})
	return issuer, v, err
}
