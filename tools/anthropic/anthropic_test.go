package anthropic_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/tools"
	guardanthropic "github.com/modelguard/modelguard/tools/anthropic"
)

const messageWithToolUse = `{
  "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-test", "stop_reason": "tool_use",
  "usage": {"input_tokens": 10, "output_tokens": 10},
  "content": [
    {"type": "text", "text": "Let me look."},
    {"type": "tool_use", "id": "toolu_1", "name": "tickets_get", "input": {"id": "T-1"}},
    {"type": "tool_use", "id": "toolu_2", "name": "attachments_export", "input": {"id": "VIP-7"}},
    {"type": "tool_use", "id": "toolu_3", "name": "shell_exec", "input": {"cmd": "id"}},
    {"type": "tool_use", "id": "toolu_4", "name": "tickets_get", "input": {"id": "T-1", "admin": true}}
  ]
}`

const messageDone = `{"id": "msg_2", "type": "message", "role": "assistant", "model": "claude-test", "stop_reason": "end_turn",
  "usage": {"input_tokens": 10, "output_tokens": 1}, "content": [{"type": "text", "text": "Done."}]}`

func TestMessagesRoundTrip(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	d := w.dispatcher(t)
	c, api := client(t, messageWithToolUse, messageDone)
	ctx := tools.WithCall(identity.WithToken(context.Background(), w.support), tools.Call{SessionID: "conv-1"})

	params := anthropic.MessageNewParams{
		Model: "claude-test", MaxTokens: 1024,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("What is ticket T-1 about?"))},
		Tools:    d.Tools(ctx),
	}
	msg, err := c.Messages.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	results, err := d.ToolResults(ctx, msg)
	for _, want := range []error{tools.ErrForbidden, tools.ErrUnknownTool, tools.ErrBadArgs} {
		if !errors.Is(err, want) {
			t.Errorf("error %v does not match %v", err, want)
		}
	}
	params.Messages = append(params.Messages, msg.ToParam(), anthropic.NewUserMessage(results...))
	if _, err := c.Messages.New(ctx, params); err != nil {
		t.Fatal(err)
	}

	var offered []string
	for _, tl := range api.request(0)["tools"].([]any) {
		tl := tl.(map[string]any)
		offered = append(offered, tl["name"].(string))
		schema := tl["input_schema"].(map[string]any)
		if schema["type"] != "object" || schema["additionalProperties"] != false || schema["properties"] == nil {
			t.Errorf("%s: input_schema %v", tl["name"], schema)
		}
	}
	if !reflect.DeepEqual(offered, []string{"attachments_export", "tickets_get"}) {
		t.Errorf("offered %v", offered)
	}

	msgs := api.request(1)["messages"].([]any)
	blocks := msgs[len(msgs)-1].(map[string]any)["content"].([]any)
	type result struct {
		text    string
		isError bool
	}
	got := map[string]result{}
	for _, b := range blocks {
		b := b.(map[string]any)
		if b["type"] != "tool_result" {
			t.Errorf("block of type %v in the tool results", b["type"])
			continue
		}
		content := b["content"].([]any)[0].(map[string]any)["text"].(string)
		got[b["tool_use_id"].(string)] = result{content, b["is_error"] == true}
	}
	want := map[string]result{
		"toolu_1": {`{"id":"T-1","subject":"printer on fire"}`, false},
		"toolu_2": {"modelguard: call to attachments.export denied (forbidden): attachments of VIP tickets stay inside", true},
		"toolu_3": {"modelguard: call to shell_exec denied (unknown_tool): no such tool", true},
		"toolu_4": {"modelguard: call to tickets.get denied (bad_arguments): arguments do not match", true},
	}
	for id, w := range want {
		if !strings.HasPrefix(got[id].text, w.text) || got[id].isError != w.isError {
			t.Errorf("%s: tool_result %+v, want %+v", id, got[id], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d tool results, want %d", len(got), len(want))
	}
	checkLog(t, w.log, "msg_1", "conv-1", []string{"toolu_1", "toolu_2", "toolu_3", "toolu_4"})
}

func checkLog(t *testing.T, log *audit.Memory, prompt, session string, calls []string) {
	t.Helper()
	var ids []string
	for _, e := range log.Events() {
		if e.Phase != audit.PhaseDecision {
			continue
		}
		ids = append(ids, e.CallID)
		if e.PromptID != prompt || e.SessionID != session {
			t.Errorf("%s: prompt %q session %q, want %q %q", e.CallID, e.PromptID, e.SessionID, prompt, session)
		}
	}
	if !reflect.DeepEqual(ids, calls) {
		t.Errorf("decisions for calls %v, want %v", ids, calls)
	}
}

func TestPromptFromContextWins(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	d := w.dispatcher(t)
	var msg anthropic.Message
	if err := json.Unmarshal([]byte(messageWithToolUse), &msg); err != nil {
		t.Fatal(err)
	}
	ctx := tools.WithCall(identity.WithToken(context.Background(), w.support), tools.Call{PromptID: "prompt-42"})
	if _, err := d.ToolResults(ctx, &msg); err == nil {
		t.Fatal("no denial")
	}
	for _, e := range w.log.Events() {
		if e.PromptID != "prompt-42" {
			t.Errorf("%s: prompt %q", e.CallID, e.PromptID)
		}
	}
}

func TestToolsWithoutIdentity(t *testing.T) {
	t.Parallel()
	if n := len(newWorld(t).dispatcher(t).Tools(context.Background())); n != 0 {
		t.Errorf("%d tools offered to a model without identity", n)
	}
}

func TestNewRejectsCollisions(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	g, err := tools.NewGuard(w.enf, tools.Tool{Name: "tickets_get"}, func(context.Context, ticketID) (string, error) { return "", nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := w.reg.Add(g); err != nil {
		t.Fatal(err)
	}
	if _, err := guardanthropic.New(w.reg, guardanthropic.Options{}); err == nil || !strings.Contains(err.Error(), `both "tickets_get"`) {
		t.Errorf("New: %v", err)
	}
}

func TestModelName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"tickets.get": "tickets_get", "a-b_c9": "a-b_c9", "é": "__", strings.Repeat("x", 70): strings.Repeat("x", 64)} {
		if got := guardanthropic.ModelName(in); got != want {
			t.Errorf("ModelName(%q) = %q, want %q", in, got, want)
		}
	}
}
