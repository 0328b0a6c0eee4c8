package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/identity/identitytest"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
	guardopenai "github.com/modelguard/modelguard/tools/openai"
)

const testPolicy = `
rules:
  - id: support-tickets
    effect: permit
    tools: ["tickets.get", "attachments.export"]
    when: identity.agent == "support-bot"
  - id: no-vip-export
    effect: forbid
    tools: ["attachments.export"]
    when: args.id.startsWith("VIP-")
    message: "'attachments of VIP tickets stay inside'"
  - id: coder-repo
    effect: permit
    tools: ["repo.read"]
    when: identity.agent == "coding-assistant"
`

type ticketID struct {
	ID string `json:"id"`
}

type ticket struct {
	ID      string `json:"id"`
	Subject string `json:"subject"`
}

type repoPath struct {
	Path string `json:"path"`
}

type world struct {
	log     *audit.Memory
	enf     *tools.Enforcer
	reg     *tools.Registry
	support string // token of the support agent
}

func newWorld(t *testing.T) *world {
	t.Helper()
	k := identitytest.New(t, identitytest.Options{})
	rules, err := policy.Parse("test.yaml", []byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	set, err := policy.NewSet(rules, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{log: &audit.Memory{}}
	if w.enf, err = tools.NewEnforcer(k.Verifier(t, identity.VerifierOptions{}), set, w.log, tools.Options{Now: k.Now}); err != nil {
		t.Fatal(err)
	}
	get, err1 := tools.NewGuard(w.enf, tools.Tool{Name: "tickets.get"}, func(ctx context.Context, in ticketID) (ticket, error) {
		return ticket{ID: in.ID, Subject: "printer on fire"}, nil
	})
	export, err2 := tools.NewGuard(w.enf, tools.Tool{Name: "attachments.export"}, func(ctx context.Context, in ticketID) (string, error) {
		return "attachment of " + in.ID, nil
	})
	read, err3 := tools.NewGuard(w.enf, tools.Tool{Name: "repo.read"}, func(ctx context.Context, in repoPath) (string, error) {
		return "package main", nil
	})
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	if w.reg, err = tools.NewRegistry(w.enf, get, export, read); err != nil {
		t.Fatal(err)
	}
	w.support = k.Mint(t, identity.Claims{Subject: "model:support-1", Agent: "support-bot"})
	return w
}

func (w *world) dispatcher(t *testing.T) *guardopenai.Dispatcher {
	t.Helper()
	d, err := guardopenai.New(w.reg, guardopenai.Options{Descriptions: map[string]string{"tickets.get": "Read one ticket."}})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// fakeAPI stands in for the OpenAI API on loopback: it answers the n-th request
// with the n-th canned body and keeps every request body.
type fakeAPI struct {
	mu       sync.Mutex
	answers  []string
	requests []map[string]any
	paths    []string
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	n := len(f.requests)
	f.requests, f.paths = append(f.requests, req), append(f.paths, r.URL.Path)
	f.mu.Unlock()
	if n >= len(f.answers) {
		http.Error(w, "no more answers", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, f.answers[n])
}

func (f *fakeAPI) request(i int) map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[i]
}

// client returns an SDK client talking to a fake API with the canned answers.
func client(t *testing.T, answers ...string) (openai.Client, *fakeAPI) {
	t.Helper()
	api := &fakeAPI{answers: answers}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return openai.NewClient(option.WithBaseURL(srv.URL+"/v1/"), option.WithAPIKey("test-key"), option.WithMaxRetries(0)), api
}
