package tools_test

import (
	"context"
	"testing"

	"cel.dev/cel-go/cel"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/tools"
)

// discard is a sink that keeps nothing, so that the benchmarks measure the guard,
// not the sink (audit sinks have their own benchmarks).
var discard = audit.SinkFunc(func(context.Context, audit.Event) error { return nil })

// BenchmarkGuardAllow is the whole guarded allow path with a cached identity: token
// from ctx, verifier cache hit, policy decision, two audit events (decision and
// outcome, with argument and output digests), and the tool itself.
func BenchmarkGuardAllow(b *testing.B) {
	f := newFixture(b, discard)
	get, err := tools.Wrap(f.enf, tools.Tool{Name: "tickets.get"}, func(ctx context.Context, in ticketIn) (ticket, error) {
		return ticket{ID: in.ID, Subject: "printer on fire"}, nil
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := f.ctx(b, supportClaims())
	in := ticketIn{ID: "T-1"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := get(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGuardAllowGenericDigest is BenchmarkGuardAllow with the
// digests through encoding/json instead of the per-type encoders built at
// NewGuard: the baseline of that lever, in the same run.
func BenchmarkGuardAllowGenericDigest(b *testing.B) {
	f := newFixture(b, discard)
	g, err := tools.NewGuard(f.enf, tools.Tool{Name: "tickets.get"}, func(ctx context.Context, in ticketIn) (ticket, error) {
		return ticket{ID: in.ID, Subject: "printer on fire"}, nil
	})
	if err != nil {
		b.Fatal(err)
	}
	tools.WithoutFlatJSON(g)
	ctx := f.ctx(b, supportClaims())
	in := ticketIn{ID: "T-1"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.Call(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawCEL evaluates the rule that permits tickets.get with plain cel-go on
// a prebuilt map activation, in the same run, as the baseline for
// BenchmarkGuardAllow.
func BenchmarkRawCEL(b *testing.B) {
	env, err := cel.NewEnv(cel.Variable("identity", cel.MapType(cel.StringType, cel.DynType)))
	if err != nil {
		b.Fatal(err)
	}
	ast, iss := env.Compile(`identity.agent == "support-bot" && "tickets:read" in identity.scopes`)
	if iss.Err() != nil {
		b.Fatal(iss.Err())
	}
	prg, err := env.Program(ast, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		b.Fatal(err)
	}
	vars := map[string]any{"identity": map[string]any{"agent": "support-bot", "scopes": []string{"tickets:read"}}}
	b.ReportAllocs()
	for b.Loop() {
		out, _, err := prg.Eval(vars)
		if err != nil || out.Value() != true {
			b.Fatal(out, err)
		}
	}
}

// BenchmarkGuardAllowJSON is BenchmarkGuardAllow through CallJSON, the entry
// point of every adapter: strict decoding of the model's JSON arguments
// included.
func BenchmarkGuardAllowJSON(b *testing.B) {
	f := newFixture(b, discard)
	g, err := tools.NewGuard(f.enf, tools.Tool{Name: "tickets.get"}, func(ctx context.Context, in ticketIn) (ticket, error) {
		return ticket{ID: in.ID, Subject: "printer on fire"}, nil
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := f.ctx(b, supportClaims())
	args := []byte(`{"id":"T-1"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.CallJSON(ctx, args); err != nil {
			b.Fatal(err)
		}
	}
}

// ticketMapIn is ticketIn with a map field: a type with reference fields, so
// its arguments are isolated (encoded once, decoded into a fresh value).
type ticketMapIn struct {
	ID   string            `json:"id"`
	Tags map[string]string `json:"tags"`
}

// BenchmarkGuardAllowMap is BenchmarkGuardAllow for an input with a map field:
// the difference is the cost of isolating the arguments from the caller.
func BenchmarkGuardAllowMap(b *testing.B) {
	f := newFixture(b, discard)
	get, err := tools.Wrap(f.enf, tools.Tool{Name: "tickets.get"}, func(ctx context.Context, in ticketMapIn) (ticket, error) {
		return ticket{ID: in.ID, Subject: "printer on fire"}, nil
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx := f.ctx(b, supportClaims())
	in := ticketMapIn{ID: "T-1", Tags: map[string]string{"queue": "hardware", "site": "hq"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := get(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}
