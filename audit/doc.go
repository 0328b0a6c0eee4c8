// Package audit records what every guarded tool call attempted, by whom, how it
// was decided and why, and how it ended.
//
// # Events
//
// A guarded call produces exactly one decision [Event] before the tool runs and,
// if the tool ran, exactly one outcome [Event] after. Events carry the verified
// identity's claims (never the token), the rule ids, reasons and control tags of
// the decision, the policy version, the conversation, prompt and trace ids that tie
// the call to what led to it, and SHA-256 digests of the arguments and the output
// (see [Digest]). JSON names follow the OpenTelemetry GenAI semantic conventions
// where one exists: gen_ai.tool.name, gen_ai.tool.call.id, gen_ai.agent.id,
// gen_ai.conversation.id, error.type.
//
// # Sinks
//
// A [Sink] has one method, Record. Sinks do their own locking, never drop an event
// because the caller's context ended, and return an error when an event may not
// be durable: the guard then denies the call, so that nothing happens that was not
// recorded. [SinkFunc] adapts a function, [Multi] fans out and joins errors.
// Built in: [Memory] for tests and [File], a JSON-lines log that numbers its
// records and refuses to extend a damaged log.
package audit
