package tools

import "context"

// Call is what a caller knows about one tool call beyond its arguments: ids that tie
// it to the conversation and the prompt that led to it. Policy sees them as
// request.session, request.prompt, request.trace and request.call; audit events
// record them.
type Call struct {
	// ID is the model's tool call id (e.g. OpenAI's call_…); generated when empty.
	ID string
	// SessionID is the conversation (gen_ai.conversation.id).
	SessionID string
	// PromptID identifies the prompt or model turn that produced the call.
	PromptID string
	// TraceID ties the call to a distributed trace.
	TraceID string
}

type callKey struct{}

// WithCall returns a copy of ctx carrying c for the next guarded call.
func WithCall(ctx context.Context, c Call) context.Context {
	if ctx == nil { // context.WithValue panics on a nil parent; a nil ctx here is the background
		ctx = context.Background()
	}
	return context.WithValue(ctx, callKey{}, c)
}

// CallFromContext returns the Call stored by [WithCall].
func CallFromContext(ctx context.Context) (Call, bool) {
	if ctx == nil {
		return Call{}, false
	}
	c, ok := ctx.Value(callKey{}).(Call)
	return c, ok
}
