// Package otel reports guarded tool calls to OpenTelemetry: a span per call
// and metrics of decisions, outcomes and latency. It uses the OpenTelemetry
// API only; the application chooses the SDK and exporters.
//
// # Spans
//
// [Sink] is an [audit.Sink]. For every guarded call it produces one span named
// "execute_tool {gen_ai.tool.name}", as the OpenTelemetry GenAI semantic
// conventions name tool execution, with gen_ai.operation.name,
// gen_ai.tool.name, gen_ai.tool.call.id, gen_ai.agent.id,
// gen_ai.conversation.id, gen_ai.provider.name, gen_ai.request.model and
// error.type, plus modelguard.* attributes for the decision: the decision,
// its reason code, rules, controls, policy version, outcome and the digests
// of arguments and output. The span runs from the decision to the outcome (a
// denied call's span is instant) and is a child of the span in the caller's
// ctx.
//
// If the span in ctx is itself the tool's execute_tool span, opened by an
// agent framework's instrumentation, the sink adds its attributes to that span
// instead of opening a second one (see [Options].Reuse).
//
// # Metrics
//
// modelguard.tool.calls counts calls by tool, decision, outcome and
// error.type; modelguard.tool.duration records the tools' run time in
// seconds by tool and outcome.
//
// # Use
//
// Telemetry is not the audit record: put the sink beside a durable one with
// [audit.Multi]. Its Record never fails.
package otel
