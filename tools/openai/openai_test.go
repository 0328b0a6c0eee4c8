package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/tools"
	guardopenai "github.com/modelguard/modelguard/tools/openai"
)

const completionWithToolCalls = `{
  "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-test",
  "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
    "tool_calls": [
      {"id": "call_1", "type": "function", "function": {"name": "tickets_get", "arguments": "{\"id\":\"T-1\"}"}},
      {"id": "call_2", "type": "function", "function": {"name": "attachments_export", "arguments": "{\"id\":\"VIP-7\"}"}},
      {"id": "call_3", "type": "function", "function": {"name": "shell_exec", "arguments": "{\"cmd\":\"id\"}"}},
      {"id": "call_4", "type": "function", "function": {"name": "tickets_get", "arguments": "{\"id\":5}"}},
      {"id": "call_5", "type": "custom", "custom": {"name": "grammar", "input": "x"}}
    ]}}]
}`

const completionDone = `{"id": "chatcmpl-2", "object": "chat.completion", "created": 2, "model": "gpt-test",
  "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Done."}}]}`

func TestChatCompletionsRoundTrip(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	d := w.dispatcher(t)
	c, api := client(t, completionWithToolCalls, completionDone)
	ctx := tools.WithCall(identity.WithToken(context.Background(), w.support), tools.Call{SessionID: "conv-1"})

	params := openai.ChatCompletionNewParams{
		Model:    "gpt-test",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("What is ticket T-1 about?")},
		Tools:    d.Tools(ctx),
	}
	completion, err := c.Chat.Completions.New(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := d.ToolMessages(ctx, completion)
	for _, want := range []error{tools.ErrForbidden, tools.ErrUnknownTool, tools.ErrBadArgs, guardopenai.ErrNotFunction} {
		if !errors.Is(err, want) {
			t.Errorf("error %v does not match %v", err, want)
		}
	}
	params.Messages = append(params.Messages, completion.Choices[0].Message.ToParam())
	params.Messages = append(params.Messages, msgs...)
	if _, err := c.Chat.Completions.New(ctx, params); err != nil {
		t.Fatal(err)
	}

	// The first request offered the support agent's tools only.
	var offered []string
	for _, tl := range api.request(0)["tools"].([]any) {
		fn := tl.(map[string]any)["function"].(map[string]any)
		offered = append(offered, fn["name"].(string))
		if fn["parameters"].(map[string]any)["type"] != "object" {
			t.Errorf("%s: parameters %v", fn["name"], fn["parameters"])
		}
	}
	if !reflect.DeepEqual(offered, []string{"attachments_export", "tickets_get"}) {
		t.Errorf("offered %v", offered)
	}

	// The follow-up carries one tool message per call, in order.
	got := map[string]string{}
	for _, m := range api.request(1)["messages"].([]any) {
		if m := m.(map[string]any); m["role"] == "tool" {
			got[m["tool_call_id"].(string)] = m["content"].(string)
		}
	}
	want := map[string]string{
		"call_1": `{"id":"T-1","subject":"printer on fire"}`,
		"call_2": "modelguard: call to attachments.export denied (forbidden): attachments of VIP tickets stay inside",
		"call_3": "modelguard: call to shell_exec denied (unknown_tool): no such tool",
		"call_4": "modelguard: call to tickets.get denied (bad_arguments): arguments do not match",
		"call_5": `openai: tool call is not a function call: custom tool "grammar"`,
	}
	for id, w := range want {
		if !strings.HasPrefix(got[id], w) {
			t.Errorf("%s: tool message %q, want %q", id, got[id], w)
		}
		if strings.Contains(got[id], "no-vip-export") || strings.Contains(got[id], "support-tickets") {
			t.Errorf("%s: tool message names a rule: %q", id, got[id])
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d tool messages, want %d", len(got), len(want))
	}
	checkLog(t, w.log, "chatcmpl-1", "conv-1", []string{"call_1", "call_2", "call_3", "call_4"})
}

// checkLog checks that the decisions carry the model's call ids, the prompt and
// the session.
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

const responseWithCalls = `{
  "id": "resp_1", "object": "response", "created_at": 1, "status": "completed", "model": "gpt-test",
  "parallel_tool_calls": true, "tool_choice": "auto", "tools": [],
  "output": [
    {"type": "reasoning", "id": "rs_1", "summary": []},
    {"type": "function_call", "id": "fc_1", "call_id": "call_a", "name": "tickets_get", "arguments": "{\"id\":\"T-2\"}", "status": "completed"},
    {"type": "function_call", "id": "fc_2", "call_id": "call_b", "name": "attachments_export", "arguments": "{\"id\":\"VIP-1\"}", "status": "completed"}
  ]
}`

const responseDone = `{"id": "resp_2", "object": "response", "created_at": 2, "status": "completed", "model": "gpt-test",
  "parallel_tool_calls": true, "tool_choice": "auto", "tools": [],
  "output": [{"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
    "content": [{"type": "output_text", "text": "Done.", "annotations": []}]}]}`

func TestResponsesRoundTrip(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	d := w.dispatcher(t)
	c, api := client(t, responseWithCalls, responseDone)
	ctx := identity.WithToken(context.Background(), w.support)

	resp, err := c.Responses.New(ctx, responses.ResponseNewParams{
		Model: "gpt-test",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("Export T-2's attachments")},
		Tools: d.ResponseTools(ctx),
	})
	if err != nil {
		t.Fatal(err)
	}
	items, err := d.FunctionCallOutputs(ctx, resp)
	if !errors.Is(err, tools.ErrForbidden) {
		t.Errorf("error %v, want a denial", err)
	}
	if _, err := c.Responses.New(ctx, responses.ResponseNewParams{
		Model: "gpt-test", PreviousResponseID: openai.String(resp.ID),
		Input: responses.ResponseNewParamsInputUnion{OfInputItemList: items},
	}); err != nil {
		t.Fatal(err)
	}

	var offered []string
	for _, tl := range api.request(0)["tools"].([]any) {
		offered = append(offered, tl.(map[string]any)["name"].(string))
	}
	if !reflect.DeepEqual(offered, []string{"attachments_export", "tickets_get"}) {
		t.Errorf("offered %v", offered)
	}
	b, _ := json.Marshal(api.request(1)["input"])
	want := `[{"call_id":"call_a","output":"{\"id\":\"T-2\",\"subject\":\"printer on fire\"}","type":"function_call_output"},` +
		`{"call_id":"call_b","output":"modelguard: call to attachments.export denied (forbidden): attachments of VIP tickets stay inside","type":"function_call_output"}]`
	if string(b) != want {
		t.Errorf("follow-up input\n got %s\nwant %s", b, want)
	}
	checkLog(t, w.log, "resp_1", "", []string{"call_a", "call_b"})
}

func TestToolsWithoutIdentity(t *testing.T) {
	t.Parallel()
	d := newWorld(t).dispatcher(t)
	if n := len(d.Tools(context.Background())) + len(d.ResponseTools(context.Background())); n != 0 {
		t.Errorf("%d tools offered to a model without identity", n)
	}
}

func TestModelName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"tickets.get": "tickets_get", "a-b_c9": "a-b_c9", "repo/read file": "repo_read_file", "é": "__",
		strings.Repeat("x", 70): strings.Repeat("x", 64),
	} {
		if got := guardopenai.ModelName(in); got != want {
			t.Errorf("ModelName(%q) = %q, want %q", in, got, want)
		}
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
	if _, err := guardopenai.New(w.reg, guardopenai.Options{}); err == nil || !strings.Contains(err.Error(), `both "tickets_get"`) {
		t.Errorf("New: %v", err)
	}
}

// A response in a conversation makes the conversation the calls' session.
func TestResponsesConversationSession(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	d := w.dispatcher(t)
	withConv := strings.Replace(responseWithCalls, `"tools": [],`, `"tools": [], "conversation": {"id": "conv_9"},`, 1)
	c, _ := client(t, withConv)
	ctx := identity.WithToken(context.Background(), w.support)
	resp, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "gpt-test",
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")}})
	if err != nil {
		t.Fatal(err)
	}
	_, _ = d.FunctionCallOutputs(ctx, resp)
	checkLog(t, w.log, "resp_1", "conv_9", []string{"call_a", "call_b"})
}
