package otel_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/audit/audittest"
	mgotel "github.com/modelguard/modelguard/audit/otel"
)

type fixture struct {
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	sink   *mgotel.Sink
}

func newFixture(t *testing.T, reuse mgotel.Reuse) *fixture {
	f := &fixture{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	f.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(f.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(f.reader))
	var err error
	f.sink, err = mgotel.New(mgotel.Options{TracerProvider: f.tp, MeterProvider: mp, Reuse: reuse})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// call records a guarded call's events as the guard does.
func (f *fixture) call(t *testing.T, ctx context.Context, outcome string) {
	d := audittest.Event("d")
	d.Phase, d.Outcome, d.Duration, d.OutputDigest, d.Output = audit.PhaseDecision, "", 0, "", nil
	if outcome == audit.OutcomeDenied {
		d.Decision, d.Code, d.Outcome = audit.Deny, "forbidden", audit.OutcomeDenied
	}
	if err := f.sink.Record(ctx, d); err != nil {
		t.Fatal(err)
	}
	if outcome == audit.OutcomeDenied {
		return
	}
	o := audittest.Event("o")
	o.Time = d.Time.Add(1500 * time.Microsecond)
	o.Outcome, o.CallID = outcome, d.CallID
	if outcome == audit.OutcomeError {
		o.Error, o.ErrorType = "ticket system down", "*errors.errorString"
	}
	if err := f.sink.Record(ctx, o); err != nil {
		t.Fatal(err)
	}
}

func attrs(kvs []attribute.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		m[string(kv.Key)] = kv.Value.String()
	}
	return m
}

func TestSpans(t *testing.T) {
	t.Parallel()
	tests := []struct {
		outcome   string
		status    codes.Code
		errorType string
	}{
		{audit.OutcomeOK, codes.Unset, ""},
		{audit.OutcomeError, codes.Error, "*errors.errorString"},
		{audit.OutcomeDenied, codes.Error, "forbidden"},
	}
	for _, tt := range tests {
		t.Run(tt.outcome, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, mgotel.ReuseToolSpan)
			ctx, parent := f.tp.Tracer("app").Start(context.Background(), "POST /chat")
			f.call(t, ctx, tt.outcome)
			parent.End()
			ended := f.spans.Ended()
			if len(ended) != 2 {
				t.Fatalf("%d spans, want the tool's and its parent", len(ended))
			}
			s := ended[0]
			a := attrs(s.Attributes())
			if s.Name() != "execute_tool tickets.get" || s.Parent().SpanID() != parent.SpanContext().SpanID() {
				t.Fatalf("span %q, parent %v", s.Name(), s.Parent().SpanID())
			}
			for k, v := range map[string]string{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "tickets.get",
				"gen_ai.tool.call.id": "call-d", "gen_ai.agent.id": "support-bot", "gen_ai.conversation.id": "conv-1",
				"modelguard.rules": `["tickets-read"]`, "error.type": tt.errorType} {
				if a[k] != v {
					t.Errorf("%s = %q, want %q", k, a[k], v)
				}
			}
			if s.Status().Code != tt.status {
				t.Errorf("status %v, want %v", s.Status(), tt.status)
			}
			if tt.outcome != audit.OutcomeDenied && s.EndTime().Sub(s.StartTime()) != 1500*time.Microsecond {
				t.Errorf("span lasts %v, want the tool's 1.5ms", s.EndTime().Sub(s.StartTime()))
			}
		})
	}
}

func TestReusesFrameworkToolSpan(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mgotel.ReuseToolSpan)
	ctx, span := f.tp.Tracer("agent-framework").Start(context.Background(), "execute_tool tickets.get")
	f.call(t, ctx, audit.OutcomeOK)
	span.End()
	ended := f.spans.Ended()
	if len(ended) != 1 || ended[0].Name() != "execute_tool tickets.get" {
		t.Fatalf("spans %v: want only the framework's", ended)
	}
	if a := attrs(ended[0].Attributes()); a["modelguard.decision"] != "allow" || a["modelguard.outcome"] != "ok" {
		t.Fatalf("framework span not annotated: %v", a)
	}
}

func TestReuseNever(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mgotel.ReuseNever)
	ctx, span := f.tp.Tracer("agent-framework").Start(context.Background(), "execute_tool tickets.get")
	f.call(t, ctx, audit.OutcomeOK)
	span.End()
	if n := len(f.spans.Ended()); n != 2 {
		t.Fatalf("%d spans, want a child of the framework's", n)
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	f := newFixture(t, mgotel.ReuseToolSpan)
	ctx := context.Background()
	f.call(t, ctx, audit.OutcomeOK)
	f.call(t, ctx, audit.OutcomeOK)
	f.call(t, ctx, audit.OutcomeDenied)
	var rm metricdata.ResourceMetrics
	if err := f.reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	var durations uint64
	for _, m := range rm.ScopeMetrics[0].Metrics {
		switch d := m.Data.(type) {
		case metricdata.Sum[int64]:
			for _, p := range d.DataPoints {
				o, _ := p.Attributes.Value("modelguard.outcome")
				counts[o.AsString()] += p.Value
			}
		case metricdata.Histogram[float64]:
			for _, p := range d.DataPoints {
				durations += p.Count
			}
		}
	}
	if counts["ok"] != 2 || counts["denied"] != 1 || durations != 2 {
		t.Fatalf("calls by outcome %v, %d durations", counts, durations)
	}
	names := []string{}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		names = append(names, m.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"modelguard.tool.calls", "modelguard.tool.duration"}) {
		t.Fatalf("metrics %v", names)
	}
}
