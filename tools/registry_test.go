package tools_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/tools"
)

func TestRegistry(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	get, err := tools.NewGuard(f.enf, tools.Tool{Name: "tickets.get"}, getTicket)
	if err != nil {
		t.Fatal(err)
	}
	exp, err := tools.NewGuard(f.enf, tools.Tool{Name: "attachments.export"}, func(ctx context.Context, in ticketIn) (string, error) { return "x", nil })
	if err != nil {
		t.Fatal(err)
	}
	reg, err := tools.NewRegistry(f.enf, get, exp)
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Add(get); err == nil {
		t.Fatal("duplicate registration accepted")
	}
	ctx := tools.WithCall(f.ctx(t, supportClaims()), tools.Call{ID: "call_9"})

	out, err := reg.Call(ctx, "tickets.get", json.RawMessage(`{"id":"T-7"}`))
	if err != nil || string(out) != `{"id":"T-7","subject":"for model:support-1"}` {
		t.Fatalf("Call = %s, %v", out, err)
	}
	for name, args := range map[string]string{
		"unknown field":  `{"id":"T-7","admin":true}`,
		"wrong type":     `{"id":7}`,
		"trailing data":  `{"id":"T-7"} {"id":"T-8"}`,
		"not an object":  `"T-7"`,
		"malformed json": `{"id":`,
		"null":           `null`,
	} {
		f.sink.Reset()
		_, err := reg.Call(ctx, "tickets.get", json.RawMessage(args))
		var de *tools.DeniedError
		if !errors.As(err, &de) || de.Code != tools.CodeBadArgs {
			t.Errorf("%s: err = %v, want bad_arguments", name, err)
			continue
		}
		evs := f.sink.Events()
		if len(evs) != 1 || evs[0].Code != string(tools.CodeBadArgs) || evs[0].Identity.Subject != "model:support-1" ||
			evs[0].ArgsDigest != audit.DigestBytes([]byte(args)) {
			t.Errorf("%s: events = %+v", name, evs)
		}
	}

	f.sink.Reset()
	_, err = reg.Call(ctx, "admin.delete_everything", json.RawMessage(`{}`))
	if !errors.Is(err, tools.ErrUnknownTool) || err.Error() != "modelguard: call to admin.delete_everything denied (unknown_tool): no such tool" {
		t.Fatalf("unknown tool: %v", err)
	}
	if evs := f.sink.Events(); len(evs) != 1 || evs[0].Tool != "admin.delete_everything" || evs[0].CallID != "call_9" {
		t.Fatalf("unknown tool events = %+v", evs)
	}
}

func TestVisible(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	get, _ := tools.NewGuard(f.enf, tools.Tool{Name: "tickets.get"}, getTicket)
	exp, _ := tools.NewGuard(f.enf, tools.Tool{Name: "attachments.export"}, func(ctx context.Context, in ticketIn) (string, error) { return "", nil })
	list, _ := tools.NewGuard(f.enf, tools.Tool{Name: "attachments.list"}, func(ctx context.Context, in ticketIn) (string, error) { return "", nil })
	reg, _ := tools.NewRegistry(f.enf, get, exp, list)
	names := func(ctx context.Context) []string {
		var out []string
		for _, h := range reg.Visible(ctx) {
			out = append(out, h.Tool().Name)
		}
		return out
	}
	// attachments.export is forbidden outright; tickets.get needs the support agent.
	if got := names(f.ctx(t, supportClaims())); len(got) != 2 || got[0] != "attachments.list" || got[1] != "tickets.get" {
		t.Errorf("support bot sees %v", got)
	}
	if got := names(f.ctx(t, identity.Claims{Subject: "model:coder", Agent: "coder"})); len(got) != 1 || got[0] != "attachments.list" {
		t.Errorf("coder sees %v", got)
	}
	if got := names(context.Background()); len(got) != 0 {
		t.Errorf("no token sees %v", got)
	}
	if f.sink.Len() != 0 {
		t.Errorf("Visible recorded %d events", f.sink.Len())
	}
}
