package mcpconformance_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/modelguard/modelguard/tools"
)

// bearer presents whichever token it holds now.
type bearer struct{ token atomic.Value }

func newBearer(token string) *bearer {
	b := &bearer{}
	b.token.Store(token)
	return b
}

func (b *bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token.Load().(string))
	return http.DefaultTransport.RoundTrip(r)
}

func dial(t *testing.T, tg *target, rt http.RoundTripper, opts *sdk.ClientOptions, version string) *sdk.ClientSession {
	t.Helper()
	cs, err := sdk.NewClient(&sdk.Implementation{Name: "agent", Version: "1"}, opts).Connect(context.Background(),
		&sdk.StreamableClientTransport{Endpoint: tg.Resource, HTTPClient: &http.Client{Transport: rt}, MaxRetries: -1},
		&sdk.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("%s: connect: %v", tg.Name, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func listed(t *testing.T, cs *sdk.ClientSession) string {
	t.Helper()
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	sort.Strings(names)
	return strings.Join(names, ",")
}

func callText(cs *sdk.ClientSession, name string, args map[string]any) (string, bool, error) {
	res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		return "", false, err
	}
	var texts []string
	for _, c := range res.Content {
		if tc, ok := c.(*sdk.TextContent); ok {
			texts = append(texts, tc.Text)
		}
	}
	return strings.Join(texts, "\n"), res.IsError, nil
}

// TestGoSDKClient asserts the rows of node/conformance.mjs that a client
// sees, with the official Go SDK client, on both adapters.
func TestGoSDKClient(t *testing.T) {
	t.Parallel()
	for _, tg := range serve(t) {
		t.Run(tg.Name, func(t *testing.T) {
			t.Parallel()
			const v = "2025-11-25"
			support := dial(t, tg, newBearer(tg.Tokens.Support), nil, v)
			if got := listed(t, support); got != "attachments.export,tickets.get" {
				t.Errorf("support agent sees %q", got)
			}
			if got := listed(t, dial(t, tg, newBearer(tg.Tokens.Coder), nil, v)); got != "attachments.export,repo.read,tickets.get" {
				t.Errorf("coding assistant sees %q", got)
			}
			if text, isErr, err := callText(support, "tickets.get", map[string]any{"id": "T-1"}); err != nil || isErr || text != `{"id":"T-1","subject":"printer on fire"}` {
				t.Errorf("allowed: %q %v %v", text, isErr, err)
			}
			if text, isErr, err := callText(support, "attachments.export", map[string]any{"id": "VIP-1"}); err != nil || !isErr ||
				text != "modelguard: call to attachments.export denied (forbidden): attachments of VIP tickets stay inside" {
				t.Errorf("policy denial: %q %v %v", text, isErr, err)
			}
			for _, name := range []string{"shell.exec", "repo.read"} {
				_, _, err := callText(support, name, map[string]any{"path": "src/a.go"})
				var werr *jsonrpc.Error
				if !errors.As(err, &werr) || werr.Code != jsonrpc.CodeInvalidParams {
					t.Errorf("%s: %v, want -32602", name, err)
				}
			}
			if _, _, err := callText(dial(t, tg, newBearer(tg.Tokens.Coder), nil, v), "tickets.get", map[string]any{"id": "T-1"}); err == nil || !strings.Contains(err.Error(), "Forbidden") {
				t.Errorf("step-up: %v, want 403", err)
			}
			if text, _, err := callText(dial(t, tg, newBearer(tg.Tokens.ScopedCoder), nil, v), "tickets.get", map[string]any{"id": "T-1"}); err != nil || !strings.Contains(text, "printer on fire") {
				t.Errorf("with the scopes: %q %v", text, err)
			}
			approval(t, tg)
			switching := newBearer(tg.Tokens.Support)
			hijacked := dial(t, tg, switching, nil, v)
			switching.token.Store(tg.Tokens.Coder)
			if _, _, err := callText(hijacked, "repo.read", map[string]any{"path": "src/a.go"}); err == nil || !strings.Contains(err.Error(), "Forbidden") {
				t.Errorf("another identity on the session: %v, want 403", err)
			}
			codes := tg.codes()
			if codes[string(tools.CodeSessionMismatch)] == 0 || codes[string(tools.CodeUnknownTool)] != 2 || codes[string(tools.CodeInsufficientScope)] != 1 {
				t.Errorf("decisions recorded: %v", codes)
			}
		})
	}
}

func approval(t *testing.T, tg *target) {
	t.Helper()
	caps := &sdk.ClientOptions{Capabilities: &sdk.ClientCapabilities{Elicitation: &sdk.ElicitationCapabilities{URL: &sdk.URLElicitationCapabilities{}}}}
	cs := dial(t, tg, newBearer(tg.Tokens.Coder), caps, "2025-11-25")
	_, _, err := callText(cs, "attachments.export", map[string]any{"id": "T-1"})
	var werr *jsonrpc.Error
	if !errors.As(err, &werr) || werr.Code != sdk.CodeURLElicitationRequired {
		t.Fatalf("approval: %v, want -32042", err)
	}
	var data struct{ Elicitations []sdk.ElicitParams }
	if err := json.Unmarshal(werr.Data, &data); err != nil || len(data.Elicitations) != 1 {
		t.Fatalf("elicitations %s: %v", werr.Data, err)
	}
	el := data.Elicitations[0]
	if el.Mode != "url" || el.URL != strings.ReplaceAll(approvalTemplate, "{id}", el.ElicitationID) {
		t.Errorf("elicitation %+v", el)
	}
	res, err := http.Post(tg.Approve+"?id="+el.ElicitationID, "text/plain", nil)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("approve: %v %v", res, err)
	}
	res.Body.Close()
	if text, isErr, err := callText(cs, "attachments.export", map[string]any{"id": "T-1"}); err != nil || isErr || text != `"attachment of T-1"` {
		t.Errorf("after approval: %q %v %v", text, isErr, err)
	}
	plain := dial(t, tg, newBearer(tg.Tokens.Coder), nil, "2025-11-25")
	text, isErr, err := callText(plain, "attachments.export", map[string]any{"id": "T-2"})
	if err != nil || !isErr || !strings.Contains(text, "is pending; an approver can approve it at https://approvals.example/approvals/") {
		t.Errorf("without URL elicitation: %q %v %v", text, isErr, err)
	}
}
