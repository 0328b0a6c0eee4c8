package peerbench

import (
	"context"
	"errors"
	"testing"

	"github.com/cedar-policy/cedar-go"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/modelguard/modelguard/tools"
)

// benchCases are the calls every benchmark decides, each engine with its input
// built once outside the loop: a finance payment in production (allowed: the
// permit matches, the forbid is evaluated and does not), and the same payment in
// staging (denied: the forbid overrides the permit). Both read the identity and
// the arguments and evaluate two rules. TestEquivalence has both among its cases.
var benchCases = []struct {
	name  string
	call  Call
	allow bool
}{
	{"allow", Call{financeBot, "payments.initiate", PaymentArgs{AmountCents: 12_000, Payee: "ACME"}}, true},
	{"deny", Call{with(financeBot, func(id *Identity) { id.Env = "staging" }), "payments.initiate", PaymentArgs{AmountCents: 12_000, Payee: "ACME"}}, false},
}

// BenchmarkModelguardDecide is modelguard's decision: Program.Decide on a
// program compiled once, with verified claims and typed arguments.
func BenchmarkModelguardDecide(b *testing.B) {
	e := newEngines(b)
	ctx := context.Background()
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			p, in, err := e.mg.Program(bc.call)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if d := p.Decide(ctx, in); d.Allowed != bc.allow {
					b.Fatal(d)
				}
			}
		})
	}
}

// BenchmarkModelguardGuardedCall is the whole guarded tool call with a cached
// identity: token from ctx, verifier cache hit, decision, audit events (with
// argument and output digests) into a discarding sink, and the tool itself.
func BenchmarkModelguardGuardedCall(b *testing.B) {
	g := newGuards(b, newEngines(b).mg)
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			fn, err := tools.Wrap(g.enf, tools.Tool{Name: bc.call.Tool}, tool[PaymentArgs])
			if err != nil {
				b.Fatal(err)
			}
			ctx := g.ctx(b, bc.call.Identity)
			in := bc.call.Args.(PaymentArgs)
			// The first call verifies the token, as a session's first call would,
			// and shows a denial is the guard's own.
			var de *tools.DeniedError
			if _, err := fn(ctx, in); bc.allow && err != nil || !bc.allow && !errors.As(err, &de) {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := fn(ctx, in); (err == nil) != bc.allow {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCedarIsAuthorized is cedar-go's decision: cedar.Authorize (which
// PolicySet.IsAuthorized, now deprecated, calls) with the entities and request
// built once, as a caller with a warm cache of them would.
func BenchmarkCedarIsAuthorized(b *testing.B) {
	ps := newEngines(b).cedar.Policies()
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			entities, req, err := bc.call.CedarRequest()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if ok, diag := cedar.Authorize(ps, entities, req); (ok == cedar.Allow) != bc.allow {
					b.Fatal(ok, diag)
				}
			}
		})
	}
}

// BenchmarkOPAEval is OPA's decision: the query data.peerbench.allow prepared
// once with PrepareForEval, evaluated with rego.EvalInput per call.
func BenchmarkOPAEval(b *testing.B) {
	pq := newEngines(b).opa.Allow()
	ctx := context.Background()
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			input, err := bc.call.OPAInput()
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				rs, err := pq.Eval(ctx, rego.EvalInput(input))
				if err != nil || rs.Allowed() != bc.allow {
					b.Fatal(rs, err)
				}
			}
		})
	}
}
