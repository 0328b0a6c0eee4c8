package main

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
	"github.com/modelguard/modelguard/tools/httpguard"
	guardmcp "github.com/modelguard/modelguard/tools/mcp"
)

//go:embed policy.yaml
var policyYAML []byte

const (
	issuerURL = "https://identity.mcp.example"
	logName   = "modelguard-mcp-audit.jsonl"
)

func main() {
	dir := flag.String("dir", os.TempDir(), "directory for the audit log")
	flag.Parse()
	if err := run(os.Stdout, *dir); err != nil {
		fmt.Fprintln(os.Stderr, "mcp:", err)
		os.Exit(1)
	}
}

type (
	ticketID struct {
		ID string `json:"id"`
	}
	customer struct {
		Name  string `json:"name"`
		Email string `json:"email"`
	}
	ticket struct {
		ID       string   `json:"id"`
		Subject  string   `json:"subject"`
		Customer customer `json:"customer"`
	}
	repoPath struct {
		Path string `json:"path"`
	}
)

// The plain tools.

func getTicket(_ context.Context, in ticketID) (ticket, error) {
	return ticket{ID: in.ID, Subject: "Printer on fire", Customer: customer{Name: "Ann Lee", Email: "ann.lee@customer.example"}}, nil
}

func exportAttachment(_ context.Context, in ticketID) (string, error) { return "%PDF-1.7", nil }

func readRepo(_ context.Context, in repoPath) (string, error) {
	return "package main // " + in.Path, nil
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	// The resource is the MCP endpoint; tokens are minted for it (RFC 8707).
	url := "http://" + ln.Addr().String() + "/mcp"
	issuer, verifier, err := identityService(url)
	if err != nil {
		return err
	}
	handler, err := newServer(verifier, log, url)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	fmt.Fprintf(w, "MCP server on %s\n", url)

	agents := []struct {
		agent string
		calls []call
	}{
		{"support-bot", []call{{"tickets.get", map[string]any{"id": "T-1001"}}, {"attachments.export", map[string]any{"id": "T-1001"}}}},
		{"coding-assistant", []call{{"repo.read", map[string]any{"path": "src/main.go"}}, {"tickets.get", map[string]any{"id": "T-1001"}}}},
	}
	for _, a := range agents {
		token, err := issuer.Mint(identity.Claims{Subject: "model:" + a.agent, Audience: []string{url}, Agent: a.agent})
		if err != nil {
			return err
		}
		if err := session(w, url, a.agent, token, a.calls); err != nil {
			return err
		}
	}
	fmt.Fprintln(w, "\nwithout a token:")
	if err := session(w, url, "anonymous", "", nil); err != nil {
		fmt.Fprintf(w, "  connect: refused (%s)\n", refusal(err))
	}
	if err := challenge(w, url); err != nil {
		return err
	}
	srv.Close()
	if err := log.Close(); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nAudit log: %s\n", logPath)
	return nil
}

// call is one tool call a client makes.
type call struct {
	tool string
	args map[string]any
}

// session connects to the server as one model identity, lists its tools and
// makes its calls.
func session(w io.Writer, url, agent, token string, calls []call) error {
	ctx := context.Background()
	client := sdk.NewClient(&sdk.Implementation{Name: agent, Version: "1"}, nil)
	cs, err := client.Connect(ctx, &sdk.StreamableClientTransport{
		Endpoint: url, HTTPClient: &http.Client{Transport: bearer(token), Timeout: 10 * time.Second}, MaxRetries: -1,
	}, nil)
	if err != nil {
		return err
	}
	defer cs.Close()
	list, err := cs.ListTools(ctx, nil)
	if err != nil {
		return err
	}
	var names []string
	for _, t := range list.Tools {
		names = append(names, t.Name)
	}
	fmt.Fprintf(w, "\n%s sees: %s\n", agent, strings.Join(names, ", "))
	for _, c := range calls {
		res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: c.tool, Arguments: c.args})
		args, _ := json.Marshal(c.args)
		var werr *jsonrpc.Error
		switch {
		case errors.As(err, &werr): // a tool this identity may not see
			fmt.Fprintf(w, "  %s %s -> JSON-RPC error %d: %s\n", c.tool, args, werr.Code, werr.Message)
			continue
		case err != nil:
			return err
		}
		verdict := "ok   "
		if res.IsError {
			verdict = "error"
		}
		fmt.Fprintf(w, "  %s %s -> %s %s\n", c.tool, args, verdict, res.Content[0].(*sdk.TextContent).Text)
	}
	return nil
}

// bearer presents a token on every request.
type bearer string

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	if b != "" {
		r.Header.Set("Authorization", "Bearer "+string(b))
	}
	return http.DefaultTransport.RoundTrip(r)
}

func refusal(err error) string {
	if strings.Contains(err.Error(), "Unauthorized") || strings.Contains(err.Error(), "401") {
		return "401 Unauthorized"
	}
	return err.Error()
}

// newServer returns the MCP server's HTTP handler: the guarded tools as a
// protected resource (metadata, bearer check, challenges, session binding,
// per-identity lists), in one call.
func newServer(verifier *identity.Verifier, sink audit.Sink, resource string) (http.Handler, error) {
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
	get, err1 := tools.NewGuard(enf, tools.Tool{Name: "tickets.get"}, getTicket)
	export, err2 := tools.NewGuard(enf, tools.Tool{Name: "attachments.export"}, exportAttachment)
	read, err3 := tools.NewGuard(enf, tools.Tool{Name: "repo.read"}, readRepo)
	if err := errors.Join(err1, err2, err3); err != nil {
		return nil, err
	}
	reg, err := tools.NewRegistry(enf, get, export, read)
	if err != nil {
		return nil, err
	}
	server := sdk.NewServer(&sdk.Implementation{Name: "guarded-tools", Version: "1"}, nil)
	if err := guardmcp.AddTools(server, reg,
		&sdk.Tool{Name: "tickets.get", Description: "Read a support ticket."},
		&sdk.Tool{Name: "attachments.export", Description: "Export a ticket's attachments."},
		&sdk.Tool{Name: "repo.read", Description: "Read a file of the repository."}); err != nil {
		return nil, err
	}
	return guardmcp.NewHTTPHandler(server, reg, verifier, httpguard.Metadata{
		Resource: resource, AuthorizationServers: []string{issuerURL},
	}, guardmcp.HTTPOptions{})
}

// challenge shows what a client without a token learns: the challenge, and
// the metadata it names, which says where to get a token.
func challenge(w io.Writer, url string) error {
	res, err := http.Post(url, "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
	if err != nil {
		return err
	}
	res.Body.Close()
	fmt.Fprintf(w, "  %d, WWW-Authenticate: %s\n", res.StatusCode, res.Header.Get("WWW-Authenticate"))
	meta, _ := httpguard.MetadataURL(url)
	res, err = http.Get(meta)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	fmt.Fprintf(w, "  %s: %s\n", meta, body)
	return err
}

// identityService stands in for the service that gives models their tokens.
func identityService(audience string) (*identity.Issuer, *identity.Verifier, error) {
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
	return issuer, verifier, err
}
