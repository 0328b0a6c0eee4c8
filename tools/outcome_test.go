package tools_test

import (
	"context"
	"errors"
	"math"
	"runtime"
	"sync"
	"testing"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/tools"
)

type panicky struct{ mode string }

func (p panicky) MarshalJSON() ([]byte, error) {
	switch p.mode {
	case "panic":
		panic("MarshalJSON exploded")
	case "error":
		return nil, errors.New("cannot encode")
	case "invalid":
		return []byte("{not json"), nil
	}
	return []byte(`"fine"`), nil
}

type outputs struct {
	P panicky `json:"p"`
	F float64 `json:"f"`
}

// cancelOnDecision cancels the call's ctx as soon as the decision is recorded.
type cancelOnDecision struct {
	audit.Memory
	cancel context.CancelFunc
}

func (c *cancelOnDecision) Record(ctx context.Context, e audit.Event) error {
	if e.Phase == audit.PhaseDecision && c.cancel != nil {
		c.cancel()
	}
	return c.Memory.Record(ctx, e)
}

// TestEveryDecidedCallHasAnOutcome: whatever the tool or its output does, an
// allowed call leaves exactly one decision record and one outcome record, and
// an output that could not be encoded is withheld.
func TestEveryDecidedCallHasAnOutcome(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		tool    func(ctx context.Context) (outputs, error)
		outcome string
		code    string // the denial withholding the output, if any
	}{
		{"ok", func(context.Context) (outputs, error) { return outputs{F: 1}, nil }, audit.OutcomeOK, ""},
		{"MarshalJSON panics", func(context.Context) (outputs, error) { return outputs{P: panicky{"panic"}}, nil }, audit.OutcomeError, string(tools.CodeBadOutput)},
		{"MarshalJSON errors", func(context.Context) (outputs, error) { return outputs{P: panicky{"error"}}, nil }, audit.OutcomeError, string(tools.CodeBadOutput)},
		{"MarshalJSON invalid", func(context.Context) (outputs, error) { return outputs{P: panicky{"invalid"}}, nil }, audit.OutcomeError, string(tools.CodeBadOutput)},
		{"NaN", func(context.Context) (outputs, error) { return outputs{F: math.NaN()}, nil }, audit.OutcomeError, string(tools.CodeBadOutput)},
		{"+Inf", func(context.Context) (outputs, error) { return outputs{F: math.Inf(1)}, nil }, audit.OutcomeError, string(tools.CodeBadOutput)},
		{"tool panics", func(context.Context) (outputs, error) { panic("boom") }, audit.OutcomePanic, ""},
		{"tool errors", func(context.Context) (outputs, error) { return outputs{}, errors.New("tool failed") }, audit.OutcomeError, ""},
		{"Goexit", func(context.Context) (outputs, error) { runtime.Goexit(); return outputs{}, nil }, audit.OutcomePanic, ""},
	}
	for _, tc := range cases {
		{
			w := newWorld(t, "rules:\n  - {id: r, effect: permit, tools: [t]}\n", nil)
			g, err := tools.NewGuard(w.enf, tools.Tool{Name: "t"}, func(ctx context.Context, _ payment) (outputs, error) { return tc.tool(ctx) })
			if err != nil {
				t.Fatal(err)
			}
			ctx := w.ctx(t, "model:o", "a")
			var out outputs
			var callErr error
			var wg sync.WaitGroup
			wg.Add(1)
			go func() { // Goexit ends this goroutine, not the test's
				defer wg.Done()
				out, callErr = g.Call(ctx, payment{AmountCents: 1, Payee: "p"})
			}()
			wg.Wait()
			var decisions, outcomes []audit.Event
			for _, e := range w.sink.Events() {
				switch e.Phase {
				case audit.PhaseDecision:
					decisions = append(decisions, e)
				case audit.PhaseOutcome:
					outcomes = append(outcomes, e)
				}
			}
			if len(decisions) != 1 || len(outcomes) != 1 {
				t.Fatalf("%s: %d decisions, %d outcomes, want 1 and 1", tc.name, len(decisions), len(outcomes))
			}
			if got := outcomes[0].Outcome; got != tc.outcome {
				t.Errorf("%s: outcome %q, want %q", tc.name, got, tc.outcome)
			}
			if tc.code != "" {
				var de *tools.DeniedError
				if !errors.As(callErr, &de) || string(de.Code) != tc.code || out != (outputs{}) {
					t.Errorf("%s: err %v, out %+v: want the output withheld with %s", tc.name, callErr, out, tc.code)
				}
				if outcomes[0].OutputDigest != "" {
					t.Errorf("%s: withheld output has digest %q", tc.name, outcomes[0].OutputDigest)
				}
			}
			if tc.outcome == audit.OutcomeOK && outcomes[0].OutputDigest == "" {
				t.Errorf("%s: ok outcome without an output digest", tc.name)
			}
		}
	}
}

// A call whose ctx is done once its decision is recorded does not run the tool,
// and its outcome says so.
func TestCancelledAfterDecisionDoesNotRun(t *testing.T) {
	t.Parallel()
	sink := &cancelOnDecision{}
	w := newWorldWith(t, "rules:\n  - {id: r, effect: permit, tools: [t]}\n", nil, sink)
	ran := false
	g, err := tools.NewGuard(w.enf, tools.Tool{Name: "t"}, func(ctx context.Context, _ payment) (string, error) { ran = true; return "x", nil })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(w.ctx(t, "model:c", "a"))
	sink.cancel = cancel
	if _, err := g.Call(ctx, payment{AmountCents: 1}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if ran {
		t.Fatal("the tool ran after its ctx was done")
	}
	ev := sink.Events()
	if len(ev) != 2 || ev[1].Phase != audit.PhaseOutcome || ev[1].Outcome != audit.OutcomeDenied {
		t.Fatalf("events %+v: want a decision then a denied outcome", ev)
	}
}
