// Package anthropic dispatches the tool calls of an Anthropic model
// (github.com/anthropics/anthropic-sdk-go/v2) to guarded tools.
//
// Its name clashes with the SDK's package, so import it under another name:
//
//	import (
//		"github.com/anthropics/anthropic-sdk-go/v2"
//		guardanthropic "github.com/modelguard/modelguard/tools/anthropic"
//	)
//
// # Dispatching tool calls
//
// A [Dispatcher] is built once over a [tools.Registry]. [Dispatcher.Tools]
// lists the tools the identity in the context could be allowed to call, for the
// request's Tools, and [Dispatcher.ToolResults] runs every tool_use block of a
// message and returns one tool_result block per call, ready to send back in the
// next user turn:
//
//	msg, err := client.Messages.New(ctx, params)
//	results, err := dispatcher.ToolResults(ctx, msg)
//	params.Messages = append(params.Messages, msg.ToParam(), anthropic.NewUserMessage(results...))
//
// Every call goes through its guard with the tool_use id as the call id and,
// unless the context already carries a prompt id ([tools.WithCall]), the
// message's id as the prompt id, so the audit log ties each call to the model
// turn that made it. The Messages API has no conversation id: name the
// conversation with [tools.WithCall] (Call.SessionID) and it is the session
// that session-aware policy reads and extends.
//
// # What the model is told
//
// A call the guard denies still gets its tool_result, marked is_error, so the
// conversation stays valid: its content is [tools.DeniedError.Error], the tool,
// the reason code and the deciding rules' own messages, which the model can read
// and act on. The error is also returned, for the application (to ask a human
// for an approval, say). A tool that panicked is reported to the model only as
// failed.
//
// # Tool names
//
// Anthropic tool names allow only letters, digits, '_' and '-', so the model
// sees each tool under [ModelName] of its name ("tickets.get" becomes
// "tickets_get"). The audit log and the policy see the tool's own name.
package anthropic
