package tools_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/modelguard/modelguard/tools"
)

// FuzzCallJSON feeds arbitrary bytes as a model's tool arguments: the call never
// panics, every call leaves exactly one decision record, and whatever is not a
// clean JSON object of the input's fields is denied as bad arguments.
func FuzzCallJSON(f *testing.F) {
	for _, s := range []string{`{"amount_cents":5,"payee":"a"}`, `{}`, `null`, `[]`, `{"amount_cents":"5"}`, `{"x":1}`,
		`{"amount_cents":5} {}`, `{"amount_cents":1e400}`, "\xff", ``} {
		f.Add([]byte(s))
	}
	w := newWorld(f, "rules:\n  - {id: r, effect: permit, tools: [t], when: 'args.amount_cents < 100'}\n", nil)
	g, err := tools.NewGuard(w.enf, tools.Tool{Name: "t"}, func(ctx context.Context, p payment) (int64, error) { return p.AmountCents, nil })
	if err != nil {
		f.Fatal(err)
	}
	ctx := w.ctx(f, "model:fuzz", "a")
	f.Fuzz(func(t *testing.T, data []byte) {
		w.sink.Reset()
		out, err := g.CallJSON(ctx, json.RawMessage(data))
		var de *tools.DeniedError
		switch {
		case err == nil:
			var n int64
			if json.Unmarshal(out, &n) != nil || n >= 100 {
				t.Fatalf("allowed %q with output %s", data, out)
			}
		case !errors.As(err, &de):
			t.Fatalf("%q: error %v is not a denial", data, err)
		}
		decisions := 0
		for _, e := range w.sink.Events() {
			if e.Phase == "decision" {
				decisions++
			}
		}
		if decisions != 1 {
			t.Fatalf("%q: %d decision records", data, decisions)
		}
	})
}
