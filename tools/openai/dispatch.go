package openai

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"

	"github.com/modelguard/modelguard/tools"
)

// ErrNotFunction: the model made a tool call that is not a function call (a
// custom tool call), which no guarded tool can take.
var ErrNotFunction = errors.New("openai: tool call is not a function call")

// Options configure a [Dispatcher]. The zero value is valid.
type Options struct {
	// Descriptions tell the model what each tool does, by tool name.
	Descriptions map[string]string
}

// Dispatcher runs an OpenAI model's tool calls through the guarded tools of a
// registry. It knows the tools the registry held when it was built. It is safe
// for concurrent use.
type Dispatcher struct {
	r     *tools.Registry
	tools map[string]string // model name → tool name
	defs  []definition      // sorted by tool name
}

// definition is one tool as the model sees it.
type definition struct {
	h           tools.Handler
	name        string // the model's name for it
	description string
	parameters  map[string]any
}

// New returns a dispatcher for the tools of r. It fails if two tools have the
// same [ModelName], or a tool's input is not a JSON object, reporting every
// problem at once.
func New(r *tools.Registry, opts Options) (*Dispatcher, error) {
	d := &Dispatcher{r: r, tools: map[string]string{}}
	var errs []error
	for _, h := range r.Handlers() {
		def, err := newDefinition(h, opts.Descriptions[h.Tool().Name])
		if prev, dup := d.tools[def.name]; dup {
			err = errors.Join(err, fmt.Errorf("openai: tools %q and %q are both %q to the model", prev, h.Tool().Name, def.name))
		}
		errs = append(errs, err)
		d.tools[def.name] = h.Tool().Name
		d.defs = append(d.defs, def)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return d, nil
}

func newDefinition(h tools.Handler, description string) (definition, error) {
	def := definition{h: h, name: ModelName(h.Tool().Name), description: description}
	schema, err := jsonschema.ForType(h.InputType(), &jsonschema.ForOptions{})
	if err != nil {
		return def, fmt.Errorf("openai: input schema of %q: %w", h.Tool().Name, err)
	}
	if schema.Type != "object" {
		return def, fmt.Errorf("openai: input of %q is %s, not an object", h.Tool().Name, h.InputType())
	}
	b, err := json.Marshal(schema)
	if err == nil {
		err = json.Unmarshal(b, &def.parameters)
	}
	return def, err
}

// ModelName is the name the model sees for the tool name: every character
// other than an ASCII letter, digit, '_' or '-' becomes '_', and the result is
// cut to 64 bytes.
func ModelName(tool string) string {
	b := []byte(tool)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '_'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

// visible returns the definitions of the tools the identity in ctx could be
// allowed to call.
func (d *Dispatcher) visible(ctx context.Context) []definition {
	var out []definition
	for _, def := range d.defs {
		if def.h.MayCall(ctx) {
			out = append(out, def)
		}
	}
	return out
}

// Tools returns the Chat Completions function tools the identity in ctx could
// be allowed to call: what to put in the request's Tools.
func (d *Dispatcher) Tools(ctx context.Context) []openai.ChatCompletionToolUnionParam {
	var out []openai.ChatCompletionToolUnionParam
	for _, def := range d.visible(ctx) {
		fn := shared.FunctionDefinitionParam{Name: def.name, Parameters: def.parameters}
		if def.description != "" {
			fn.Description = openai.String(def.description)
		}
		out = append(out, openai.ChatCompletionFunctionTool(fn))
	}
	return out
}

// Call runs one tool call and returns the tool message that answers it, which
// is set whatever the error: send it to the model. The error is the call's
// denial or failure, for the application.
func (d *Dispatcher) Call(ctx context.Context, call openai.ChatCompletionMessageToolCallUnion) (openai.ChatCompletionMessageParamUnion, error) {
	if call.Type != "function" {
		err := fmt.Errorf("%w: %s tool %q", ErrNotFunction, call.Type, call.Custom.Name)
		return openai.ToolMessage(err.Error(), call.ID), err
	}
	text, err := d.run(ctx, call.ID, call.Function.Name, call.Function.Arguments)
	return openai.ToolMessage(text, call.ID), err
}

// ToolMessages runs every tool call of the completion's first choice, in order,
// and returns one tool message for each; the prompt id of each call is the
// completion's id unless ctx names one. The error joins the calls' errors.
func (d *Dispatcher) ToolMessages(ctx context.Context, c *openai.ChatCompletion) ([]openai.ChatCompletionMessageParamUnion, error) {
	if len(c.Choices) == 0 {
		return nil, nil
	}
	ctx = withPrompt(ctx, c.ID)
	var msgs []openai.ChatCompletionMessageParamUnion
	var errs []error
	for _, call := range c.Choices[0].Message.ToolCalls {
		msg, err := d.Call(ctx, call)
		msgs, errs = append(msgs, msg), append(errs, err)
	}
	return msgs, errors.Join(errs...)
}

// run makes one guarded call and returns what the model is told.
func (d *Dispatcher) run(ctx context.Context, callID, name, args string) (string, error) {
	meta, _ := tools.CallFromContext(ctx)
	meta.ID = callID
	tool, ok := d.tools[name]
	if !ok {
		tool = name // unknown: the registry denies and records it
	}
	out, err := d.r.Call(tools.WithCall(ctx, meta), tool, json.RawMessage(args))
	if err != nil {
		return ErrorText(err), err
	}
	return string(out), nil
}

// withPrompt makes prompt the prompt id of the calls made with ctx, unless ctx
// already names one.
func withPrompt(ctx context.Context, prompt string) context.Context {
	meta, _ := tools.CallFromContext(ctx)
	if meta.PromptID != "" || prompt == "" {
		return ctx
	}
	meta.PromptID = prompt
	return tools.WithCall(ctx, meta)
}

// withSession makes the Responses API conversation the session of the calls
// made with ctx (what session-aware policy reads), unless ctx already names
// one. Chat Completions have no conversation id: the application names the
// session with tools.WithCall.
func withSession(ctx context.Context, conversation string) context.Context {
	meta, _ := tools.CallFromContext(ctx)
	if meta.SessionID != "" || conversation == "" {
		return ctx
	}
	meta.SessionID = conversation
	return tools.WithCall(ctx, meta)
}

// ErrorText is what the model is told about a failed guarded call: for a denial,
// [tools.DeniedError.Error] (the tool, the reason code and the deciding rules'
// messages); for a tool that panicked, only that it failed; for any other tool
// error, its message, which the tool chose.
func ErrorText(err error) string { return tools.ModelText(err) }

// ResponseTools returns the Responses API function tools the identity in ctx
// could be allowed to call: what to put in the request's Tools.
func (d *Dispatcher) ResponseTools(ctx context.Context) []responses.ToolUnionParam {
	var out []responses.ToolUnionParam
	for _, def := range d.visible(ctx) {
		t := responses.ToolParamOfFunction(def.name, def.parameters, false)
		if def.description != "" {
			t.OfFunction.Description = openai.String(def.description)
		}
		out = append(out, t)
	}
	return out
}

// FunctionCall runs one function call of a response and returns the
// function_call_output item that answers it, which is set whatever the error:
// send it to the model. The error is the call's denial or failure.
func (d *Dispatcher) FunctionCall(ctx context.Context, call responses.ResponseFunctionToolCall) (responses.ResponseInputItemUnionParam, error) {
	text, err := d.run(ctx, call.CallID, call.Name, call.Arguments)
	item := responses.ResponseInputItemParamOfFunctionCallOutput(text)
	item.OfFunctionCallOutput.CallID = openai.String(call.CallID)
	return item, err
}

// FunctionCallOutputs runs every function call among the response's output
// items, in order, and returns one function_call_output item for each; the
// prompt id of each call is the response's id unless ctx names one. The error
// joins the calls' errors.
func (d *Dispatcher) FunctionCallOutputs(ctx context.Context, r *responses.Response) ([]responses.ResponseInputItemUnionParam, error) {
	ctx = withSession(withPrompt(ctx, r.ID), r.Conversation.ID)
	var items []responses.ResponseInputItemUnionParam
	var errs []error
	for _, out := range r.Output {
		if out.Type != "function_call" {
			continue
		}
		item, err := d.FunctionCall(ctx, out.AsFunctionCall())
		items, errs = append(items, item), append(errs, err)
	}
	return items, errors.Join(errs...)
}
