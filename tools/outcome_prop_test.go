package tools_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/tools"
)

// outTree is an output whose shape the property test draws at random: values
// that encode, and values that cannot (NaN, ±Inf, a chan, a MarshalJSON that
// panics, fails or writes invalid JSON) anywhere inside.
type outTree struct {
	V any      `json:"v"`
	P *panicky `json:"p,omitempty"`
	F float64  `json:"f"`
}

// randOut returns a random output and whether every part of it encodes.
func randOut(r *rand.Rand, depth int) (any, bool) {
	switch k := r.IntN(12); {
	case depth > 3 || k < 3:
		return fmt.Sprint("s", r.IntN(100)), true
	case k == 3:
		return float64(r.IntN(100)), true
	case k == 4:
		return []any{math.NaN(), math.Inf(1), math.Inf(-1)}[r.IntN(3)], false
	case k == 5:
		mode := []string{"", "panic", "error", "invalid"}[r.IntN(4)]
		return panicky{mode}, mode == ""
	case k == 6:
		return make(chan int), false
	case k <= 8:
		m, ok := map[string]any{}, true
		for range r.IntN(4) {
			v, vok := randOut(r, depth+1)
			m[fmt.Sprint("k", r.IntN(10))] = v
			ok = ok && vok
		}
		return m, okAfterOverwrite(m, ok)
	default:
		s, ok := make([]any, r.IntN(4)), true
		for i := range s {
			var vok bool
			s[i], vok = randOut(r, depth+1)
			ok = ok && vok
		}
		return s, ok
	}
}

// okAfterOverwrite recomputes whether a map encodes: a later key may have
// replaced a value that did not.
func okAfterOverwrite(m map[string]any, _ bool) bool {
	_, err := safeMarshal(m)
	return err == nil
}

func safeMarshal(v any) (b []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return json.Marshal(v)
}

// TestEveryDecidedCallHasAnOutcomeProperty: whatever the tool does (return,
// fail, return beside an error, panic, panic with an error, runtime.Goexit)
// and whatever its output holds, through Call or CallJSON, with or without
// secrets to scrub, and whether or not the call's ctx is done once the decision
// is recorded: nothing panics out of the guard, every call has exactly one
// decision record, every allowed call exactly one outcome record with its call
// id, an "ok" outcome carries the digest of exactly what the caller got, and
// anything else returns no output. A ctx done after the decision record means
// the tool did not run, and the outcome says not_run.
func TestEveryDecidedCallHasAnOutcomeProperty(t *testing.T) {
	sink := &cancelOnDecision{}
	secrets := tools.SecretFunc(func(context.Context, string) (string, error) { return "sekrit-value-42", nil })
	w := newWorldWith(t, "rules:\n  - {id: r, effect: permit, tools: [t, ts]}\n", secrets, sink)
	var behave func() (outTree, error)
	ran := false
	tool := func(ctx context.Context, _ payment) (outTree, error) {
		ran = true
		return behave()
	}
	plain, err := tools.NewGuard(w.enf, tools.Tool{Name: "t"}, tool)
	if err != nil {
		t.Fatal(err)
	}
	withSecret, err := tools.NewGuard(w.enf, tools.Tool{Name: "ts", Secrets: []string{"k"}}, tool)
	if err != nil {
		t.Fatal(err)
	}
	base := w.ctx(t, "model:o", "a")
	r := rand.New(rand.NewPCG(5, 5))
	seen := map[string]int{}
	for i := range 3000 {
		sink.Reset()
		ran = false
		v, encodes := randOut(r, 0)
		out := outTree{V: v}
		behaviour := []string{"return", "return", "error", "beside", "panic", "panic-error", "goexit"}[r.IntN(7)]
		behave = func() (outTree, error) {
			switch behaviour {
			case "error":
				return outTree{}, errors.New("tool failed")
			case "beside":
				return out, errors.New("tool failed, with output")
			case "panic":
				panic("tool exploded")
			case "panic-error":
				panic(errors.New("tool exploded with an error"))
			case "goexit":
				runtime.Goexit()
			}
			return out, nil
		}
		g := plain
		if r.IntN(3) == 0 {
			g = withSecret
		}
		ctx, cancel := context.WithCancel(base)
		cancelled := r.IntN(6) == 0
		sink.cancel = nil
		if cancelled {
			sink.cancel = cancel
		}
		viaJSON := r.IntN(2) == 0
		var (
			got      outTree
			js       []byte
			callErr  error
			returned bool
			escaped  any
		)
		done := make(chan struct{})
		go func() { // Goexit ends this goroutine, not the test's
			defer close(done)
			defer func() { escaped = recover() }()
			if viaJSON {
				js, callErr = g.CallJSON(ctx, json.RawMessage(`{"amount_cents":1,"payee":"p"}`))
			} else {
				got, callErr = g.Call(ctx, payment{AmountCents: 1, Payee: "p"})
			}
			returned = true
		}()
		<-done
		cancel()
		name := fmt.Sprintf("#%d %s json=%v cancelled=%v encodes=%v", i, behaviour, viaJSON, cancelled, encodes)
		if escaped != nil {
			t.Fatalf("%s: a panic escaped the guard: %v", name, escaped)
		}
		var decisions, outcomes []audit.Event
		for _, e := range sink.Events() {
			switch e.Phase {
			case audit.PhaseDecision:
				decisions = append(decisions, e)
			case audit.PhaseOutcome:
				outcomes = append(outcomes, e)
			}
		}
		if len(decisions) != 1 || decisions[0].Decision != audit.Allow || len(outcomes) != 1 {
			t.Fatalf("%s: %d decisions, %d outcomes, want 1 allow and 1 outcome", name, len(decisions), len(outcomes))
		}
		o := outcomes[0]
		if o.CallID != decisions[0].CallID || o.ID == decisions[0].ID {
			t.Fatalf("%s: outcome %q/%q does not belong to decision %q/%q", name, o.ID, o.CallID, decisions[0].ID, decisions[0].CallID)
		}
		switch {
		case cancelled:
			seen["not run"]++
			if ran || o.Outcome != audit.OutcomeDenied || o.ErrorType != "not_run" || !errors.Is(callErr, context.Canceled) {
				t.Fatalf("%s: ran=%v outcome=%s/%s err=%v: want not run, recorded not_run", name, ran, o.Outcome, o.ErrorType, callErr)
			}
		case behaviour == "goexit":
			seen["goexit"]++
			if returned || o.Outcome != audit.OutcomePanic {
				t.Fatalf("%s: returned=%v outcome=%s: want the goroutine ended and a panic outcome", name, returned, o.Outcome)
			}
		case behaviour == "panic" || behaviour == "panic-error":
			seen["panic"]++
			if !errors.Is(callErr, tools.ErrToolPanic) || o.Outcome != audit.OutcomePanic {
				t.Fatalf("%s: err=%v outcome=%s", name, callErr, o.Outcome)
			}
		case behaviour == "error" || behaviour == "beside":
			seen["error"]++
			if callErr == nil || o.Outcome != audit.OutcomeError || o.OutputDigest != "" {
				t.Fatalf("%s: err=%v outcome=%s digest=%q", name, callErr, o.Outcome, o.OutputDigest)
			}
		case encodes:
			seen["ok"]++
			want, _ := audit.Digest(got)
			if viaJSON {
				want = audit.DigestBytes(js)
			}
			if callErr != nil || o.Outcome != audit.OutcomeOK || o.OutputDigest == "" || o.OutputDigest != want {
				t.Fatalf("%s: err=%v outcome=%s digest=%q, want ok with the digest %q of what was returned", name, callErr, o.Outcome, o.OutputDigest, want)
			}
		default:
			seen["withheld"]++
			var de *tools.DeniedError
			if !errors.As(callErr, &de) || (de.Code != tools.CodeBadOutput && de.Code != tools.CodeRedactionFailed) || o.Outcome != audit.OutcomeError || o.OutputDigest != "" {
				t.Fatalf("%s: err=%v outcome=%s digest=%q: want the output withheld (bad_output, or redaction_failed when scrubbing)", name, callErr, o.Outcome, o.OutputDigest)
			}
		}
		if callErr != nil && (js != nil || (!viaJSON && behaviour != "beside" && got.V != nil)) {
			t.Fatalf("%s: an output came back beside %v", name, callErr)
		}
	}
	for _, k := range []string{"not run", "goexit", "panic", "error", "ok", "withheld"} {
		if seen[k] < 50 {
			t.Fatalf("too few %q cases to mean anything: %v", k, seen)
		}
	}
}

// flaky encodes once, then panics: a MarshalJSON with a side effect.
type flaky struct{ n *int }

func (f flaky) MarshalJSON() ([]byte, error) {
	if *f.n++; *f.n > 1 {
		panic("encoded twice")
	}
	return []byte(`"once"`), nil
}

// TestCallJSONEncodesOutputOnce: CallJSON returns the very bytes whose digest
// the outcome records; the output's MarshalJSON does not run a second time.
func TestCallJSONEncodesOutputOnce(t *testing.T) {
	w := newWorld(t, "rules:\n  - {id: r, effect: permit, tools: [t]}\n", nil)
	g, err := tools.NewGuard(w.enf, tools.Tool{Name: "t"}, func(context.Context, payment) (flaky, error) { return flaky{new(int)}, nil })
	if err != nil {
		t.Fatal(err)
	}
	js, err := g.CallJSON(w.ctx(t, "model:o", "a"), json.RawMessage(`{}`))
	if err != nil || string(js) != `"once"` {
		t.Fatalf("CallJSON = %s, %v", js, err)
	}
	if ev := w.sink.Events(); ev[len(ev)-1].OutputDigest != audit.DigestBytes(js) {
		t.Fatalf("outcome digest %s is not of the returned bytes", ev[len(ev)-1].OutputDigest)
	}
}
