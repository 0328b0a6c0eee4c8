package tools_test

import (
	"context"
	"testing"
	"time"

	"github.com/modelguard/modelguard/tools"
)

// BenchmarkControls measures each control on the allow path against the bare
// guard, in one run.
func BenchmarkControls(b *testing.B) {
	const src = `
rules:
  - {id: bare, effect: permit, tools: [bare]}
  - {id: limit, effect: permit, tools: [limit], limit: {rate: 1000000000/s, burst: 1000000000}}
  - {id: budget, effect: permit, tools: [budget], budget: {expr: "1", max: 1e18, window: 1h}}
  - {id: secrets, effect: permit, tools: [secrets]}
  - {id: redact, effect: permit, tools: [redact], redact: [customer.email]}
  - {id: approval, effect: permit, tools: [approval], require: [approval]}
`
	secret := tools.SecretFunc(func(context.Context, string) (string, error) { return "s3cr3t-value", nil })
	w := newWorldWith(b, src, secret, discard)
	fn := func(ctx context.Context, p payment) (ticketView, error) {
		return ticketView{ID: "T-1", Customer: customer{Name: "Ann", Email: "ann@example.com"}}, nil
	}
	ctx := w.ctx(b, "model:bench", "bench-bot")
	grant, err := tools.MintGrant(w.approver, tools.GrantSpec{ModelIssuer: "https://id.example", Subject: "model:bench", Audience: []string{"modelguard"},
		Tools: []string{"approval"}, Approver: "alice@example.com", Reusable: true, Expiry: w.now.Add(time.Hour)})
	if err != nil {
		b.Fatal(err)
	}
	for _, name := range []string{"bare", "limit", "budget", "secrets", "redact", "approval"} {
		t := tools.Tool{Name: name}
		if name == "secrets" {
			t.Secrets = []string{"token"}
		}
		g, err := tools.Wrap(w.enf, t, fn)
		if err != nil {
			b.Fatal(err)
		}
		cctx := ctx
		if name == "approval" {
			cctx = tools.WithGrant(ctx, grant)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := g(cctx, payment{AmountCents: 1}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
