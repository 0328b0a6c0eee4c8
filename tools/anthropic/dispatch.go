package anthropic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/anthropics/anthropic-sdk-go/v2"
	"github.com/google/jsonschema-go/jsonschema"

	"github.com/modelguard/modelguard/tools"
)

// Options configure a [Dispatcher]. The zero value is valid.
type Options struct {
	// Descriptions tell the model what each tool does, by tool name.
	Descriptions map[string]string
}

// Dispatcher runs an Anthropic model's tool calls through the guarded tools of a
// registry. It knows the tools the registry held when it was built. It is safe
// for concurrent use.
type Dispatcher struct {
	r     *tools.Registry
	tools map[string]string // model name → tool name
	defs  []definition      // sorted by tool name
}

// definition is one tool as the model sees it.
type definition struct {
	h     tools.Handler
	param anthropic.ToolParam
}

// New returns a dispatcher for the tools of r. It fails if two tools have the
// same [ModelName], or a tool's input is not a JSON object, reporting every
// problem at once.
func New(r *tools.Registry, opts Options) (*Dispatcher, error) {
	d := &Dispatcher{r: r, tools: map[string]string{}}
	var errs []error
	for _, h := range r.Handlers() {
		def, err := newDefinition(h, opts.Descriptions[h.Tool().Name])
		if prev, dup := d.tools[def.param.Name]; dup {
			err = errors.Join(err, fmt.Errorf("anthropic: tools %q and %q are both %q to the model", prev, h.Tool().Name, def.param.Name))
		}
		errs = append(errs, err)
		d.tools[def.param.Name] = h.Tool().Name
		d.defs = append(d.defs, def)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return d, nil
}

func newDefinition(h tools.Handler, description string) (definition, error) {
	def := definition{h: h, param: anthropic.ToolParam{Name: ModelName(h.Tool().Name)}}
	if description != "" {
		def.param.Description = anthropic.String(description)
	}
	schema, err := jsonschema.ForType(h.InputType(), &jsonschema.ForOptions{})
	if err != nil {
		return def, fmt.Errorf("anthropic: input schema of %q: %w", h.Tool().Name, err)
	}
	if schema.Type != "object" {
		return def, fmt.Errorf("anthropic: input of %q is %s, not an object", h.Tool().Name, h.InputType())
	}
	// The SDK types properties and required; the rest (additionalProperties,
	// $defs, …) travels as extra fields.
	var extra map[string]any
	b, err := json.Marshal(schema)
	if err == nil {
		err = json.Unmarshal(b, &extra)
	}
	delete(extra, "type")
	delete(extra, "properties")
	delete(extra, "required")
	def.param.InputSchema = anthropic.ToolInputSchemaParam{Properties: schema.Properties, Required: schema.Required, ExtraFields: extra}
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

// Tools returns the tools the identity in ctx could be allowed to call: what to
// put in the request's Tools.
func (d *Dispatcher) Tools(ctx context.Context) []anthropic.ToolUnionParam {
	var out []anthropic.ToolUnionParam
	for _, def := range d.defs {
		if def.h.MayCall(ctx) {
			p := def.param
			out = append(out, anthropic.ToolUnionParam{OfTool: &p})
		}
	}
	return out
}

// Call runs one tool_use block and returns the tool_result block that answers
// it, marked is_error when the call failed; it is set whatever the error: send
// it to the model. The error is the call's denial or failure, for the
// application.
func (d *Dispatcher) Call(ctx context.Context, use anthropic.ToolUseBlock) (anthropic.ContentBlockParamUnion, error) {
	meta, _ := tools.CallFromContext(ctx)
	meta.ID = use.ID
	tool, ok := d.tools[use.Name]
	if !ok {
		tool = use.Name // unknown: the registry denies and records it
	}
	out, err := d.r.Call(tools.WithCall(ctx, meta), tool, use.Input)
	if err != nil {
		return anthropic.NewToolResultBlock(use.ID, ErrorText(err), true), err
	}
	return anthropic.NewToolResultBlock(use.ID, string(out), false), nil
}

// ToolResults runs every tool_use block of the message, in order, and returns
// one tool_result block for each; the prompt id of each call is the message's id
// unless ctx names one. The error joins the calls' errors.
func (d *Dispatcher) ToolResults(ctx context.Context, msg *anthropic.Message) ([]anthropic.ContentBlockParamUnion, error) {
	if meta, _ := tools.CallFromContext(ctx); meta.PromptID == "" && msg.ID != "" {
		meta.PromptID = msg.ID
		ctx = tools.WithCall(ctx, meta)
	}
	var blocks []anthropic.ContentBlockParamUnion
	var errs []error
	for _, c := range msg.Content {
		if c.Type != "tool_use" {
			continue
		}
		b, err := d.Call(ctx, c.AsToolUse())
		blocks, errs = append(blocks, b), append(errs, err)
	}
	return blocks, errors.Join(errs...)
}

// ErrorText is what the model is told about a failed guarded call: for a denial,
// [tools.DeniedError.Error] (the tool, the reason code and the deciding rules'
// messages); for a tool that panicked, only that it failed; for any other tool
// error, its message, which the tool chose.
func ErrorText(err error) string { return tools.ModelText(err) }
