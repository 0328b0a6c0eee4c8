// Package openai dispatches the tool calls of an OpenAI model
// (github.com/openai/openai-go/v3) to guarded tools.
//
// Its name clashes with the SDK's package, so import it under another name:
//
//	import (
//		"github.com/openai/openai-go/v3"
//		guardopenai "github.com/modelguard/modelguard/tools/openai"
//	)
//
// # Dispatching tool calls
//
// A [Dispatcher] is built once over a [tools.Registry]. For the Chat
// Completions API, [Dispatcher.Tools] lists the function tools the identity in
// the context could be allowed to call, for the request's Tools, and
// [Dispatcher.ToolMessages] runs every tool call of a completion and returns one
// tool message per call, ready to append to the conversation:
//
//	completion, err := client.Chat.Completions.New(ctx, params)
//	msgs, err := dispatcher.ToolMessages(ctx, completion)
//	params.Messages = append(params.Messages, completion.Choices[0].Message.ToParam())
//	params.Messages = append(params.Messages, msgs...)
//
// For the Responses API, [Dispatcher.ResponseTools] and
// [Dispatcher.FunctionCallOutputs] do the same.
//
// Every call goes through its guard with the model's call id as the call id
// and, unless the context already carries a prompt id ([tools.WithCall]), the
// completion's or response's id as the prompt id, so the audit log ties each
// call to the model turn that made it. A response that belongs to a
// conversation (the Responses API's conversation id) makes it the calls'
// session, unless the context names one: session-aware policy reads that
// session's history. For Chat Completions, name the session with
// [tools.WithCall].
//
// # What the model is told
//
// A call the guard denies still gets its tool message, so the conversation stays
// valid: its content is [tools.DeniedError.Error], the tool, the reason code
// and the deciding rules' own messages, which the model can read and act on.
// The error is also returned, for the application (to ask a human for an
// approval, say). A tool that panicked is reported to the model only as failed.
//
// # Tool names
//
// OpenAI function names allow only letters, digits, '_' and '-', up to 64
// characters, so the model sees each tool under [ModelName] of its name
// ("tickets.get" becomes "tickets_get"). The audit log and the policy see the
// tool's own name.
package openai
