package otel

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/modelguard/modelguard/audit"
)

// instrumentation is the name of the tracer and meter.
const instrumentation = "github.com/modelguard/modelguard/audit/otel"

// operation is the GenAI operation name of tool execution.
const operation = "execute_tool"

// Reuse says when a [Sink] annotates the span in the caller's ctx instead of
// starting its own.
type Reuse uint8

const (
	// ReuseToolSpan (the default) annotates the current span when it is
	// recording and named "execute_tool …": a framework already opened the
	// tool's span. Any other current span becomes the parent of a new one.
	ReuseToolSpan Reuse = iota
	// ReuseAlways annotates any recording current span.
	ReuseAlways
	// ReuseNever always starts a span.
	ReuseNever
)

// Options configure a [Sink]. The zero value uses the global providers.
type Options struct {
	TracerProvider trace.TracerProvider // nil means otel.GetTracerProvider()
	MeterProvider  metric.MeterProvider // nil means otel.GetMeterProvider()
	Reuse          Reuse
}

// Sink turns audit events into spans and metrics. It is safe for concurrent
// use.
type Sink struct {
	tracer   trace.Tracer
	calls    metric.Int64Counter
	duration metric.Float64Histogram
	reuse    Reuse
}

// New returns a Sink.
func New(opts Options) (*Sink, error) {
	tp, mp := opts.TracerProvider, opts.MeterProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	m := mp.Meter(instrumentation)
	calls, err := m.Int64Counter("modelguard.tool.calls", metric.WithUnit("{call}"),
		metric.WithDescription("Guarded tool calls by decision and outcome."))
	if err != nil {
		return nil, err
	}
	duration, err := m.Float64Histogram("modelguard.tool.duration", metric.WithUnit("s"),
		metric.WithDescription("Run time of guarded tools."))
	if err != nil {
		return nil, err
	}
	return &Sink{tracer: tp.Tracer(instrumentation), calls: calls, duration: duration, reuse: opts.Reuse}, nil
}

// Record reports e. A call's span is made from its last event: the outcome
// of a call whose tool ran (it carries the decision too), or a denied
// decision. An allowed decision only annotates a reused span. Record never
// fails: telemetry is not the audit record.
func (s *Sink) Record(ctx context.Context, e audit.Event) error {
	final := e.Phase == audit.PhaseOutcome || (e.Phase == audit.PhaseDecision && e.Decision != audit.Allow)
	span, reused := s.current(ctx)
	switch {
	case reused:
		span.SetAttributes(attributes(&e)...)
		if final {
			setStatus(span, &e)
		}
	case final:
		s.span(ctx, &e)
	}
	if final {
		s.measure(ctx, &e)
	}
	return nil
}

// current returns the span in ctx if the sink should annotate it.
func (s *Sink) current(ctx context.Context) (trace.Span, bool) {
	span := trace.SpanFromContext(ctx)
	if s.reuse == ReuseNever || !span.IsRecording() {
		return span, false
	}
	if s.reuse == ReuseAlways {
		return span, true
	}
	named, ok := span.(interface{ Name() string })
	return span, ok && strings.HasPrefix(named.Name(), operation+" ")
}

// span records the call as a span from its decision to its outcome.
func (s *Sink) span(ctx context.Context, e *audit.Event) {
	start := e.Time.Add(-e.Duration)
	_, span := s.tracer.Start(ctx, operation+" "+e.Tool, trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithTimestamp(start), trace.WithAttributes(attributes(e)...))
	setStatus(span, e)
	span.End(trace.WithTimestamp(e.Time))
}

func setStatus(span trace.Span, e *audit.Event) {
	switch e.Outcome {
	case audit.OutcomeError, audit.OutcomePanic:
		span.SetStatus(codes.Error, e.Error)
	case audit.OutcomeDenied:
		span.SetStatus(codes.Error, "denied: "+e.Code)
	}
}

func (s *Sink) measure(ctx context.Context, e *audit.Event) {
	attrs := []attribute.KeyValue{
		attribute.String("gen_ai.tool.name", e.Tool),
		attribute.String("modelguard.decision", e.Decision),
		attribute.String("modelguard.outcome", e.Outcome),
	}
	if c := e.ErrorClass(); c != "" {
		attrs = append(attrs, attribute.String("error.type", c))
	}
	set := metric.WithAttributes(attrs...)
	s.calls.Add(ctx, 1, set)
	if e.Phase == audit.PhaseOutcome {
		s.duration.Record(ctx, e.Duration.Seconds(), set)
	}
}

// attributes are the span attributes of e: GenAI names where they exist,
// modelguard.* for the decision.
func attributes(e *audit.Event) []attribute.KeyValue {
	a := []attribute.KeyValue{
		attribute.String("gen_ai.operation.name", operation),
		attribute.String("gen_ai.tool.name", e.Tool),
		attribute.String("modelguard.decision", e.Decision),
	}
	str := func(k, v string) {
		if v != "" {
			a = append(a, attribute.String(k, v))
		}
	}
	list := func(k string, v []string) {
		if len(v) > 0 {
			a = append(a, attribute.StringSlice(k, v))
		}
	}
	str("gen_ai.tool.call.id", e.CallID)
	str("gen_ai.agent.id", e.Identity.Agent)
	str("gen_ai.conversation.id", e.SessionID)
	str("gen_ai.provider.name", e.Identity.ModelProvider)
	str("gen_ai.request.model", e.Identity.ModelName)
	str("error.type", e.ErrorClass())
	str("modelguard.decision.code", e.Code)
	list("modelguard.rules", e.Rules)
	list("modelguard.controls", e.Controls)
	str("modelguard.policy.version", e.PolicyVersion)
	str("modelguard.outcome", e.Outcome)
	str("modelguard.prompt.id", e.PromptID)
	str("modelguard.identity.sub", e.Identity.Subject)
	str("modelguard.identity.tenant", e.Identity.Tenant)
	str("modelguard.args.digest", e.ArgsDigest)
	str("modelguard.output.digest", e.OutputDigest)
	return a
}

var _ audit.Sink = (*Sink)(nil)
