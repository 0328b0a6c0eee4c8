package tools_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/modelguard/modelguard/tools"
)

type strictInner struct {
	Source string `json:"source"`
}

type strictArgs struct {
	AmountCents int64             `json:"amount_cents"`
	Payee       string            `json:"payee"`
	Tags        []string          `json:"tags"`
	Meta        strictInner       `json:"meta"`
	Extra       map[string]string `json:"extra"`
}

const strictBase = `{"amount_cents":5,"payee":"acct-1","tags":["a"],"meta":{"source":"inv"},"extra":{"k":"v"}}`

// strictMutations are the lenient readings encoding/json allows; each must be
// refused as bad_arguments, wherever in the document it is applied.
var strictMutations = []struct {
	name string
	mut  func(r *rand.Rand, s string) string
}{
	{"duplicate top-level member", func(r *rand.Rand, s string) string {
		return strings.Replace(s, `"payee":"acct-1"`, `"payee":"acct-1","payee":"acct-2"`, 1)
	}},
	{"duplicate nested member", func(r *rand.Rand, s string) string {
		return strings.Replace(s, `"source":"inv"`, `"source":"inv","source":"x"`, 1)
	}},
	{"duplicate map key", func(r *rand.Rand, s string) string {
		return strings.Replace(s, `"k":"v"`, `"k":"v","k":"w"`, 1)
	}},
	{"case-folded name", func(r *rand.Rand, s string) string {
		names := []string{`"amount_cents"`, `"payee"`, `"tags"`, `"meta"`, `"source"`}
		n := names[r.IntN(len(names))]
		return strings.Replace(s, n, foldCase(r, n), 1)
	}},
	{"trailing data", func(r *rand.Rand, s string) string {
		tails := []string{"}", "{}", " x", "]", "null", ",", `"a"`, "0"}
		return s + tails[r.IntN(len(tails))]
	}},
	{"invalid UTF-8", func(r *rand.Rand, s string) string {
		bad := []string{"\xff", "\xfe", "\xc3", "\xed\xa0\x80", "\x80"}
		return strings.Replace(s, "acct-1", "acct-"+bad[r.IntN(len(bad))], 1)
	}},
	{"lone surrogate escape", func(r *rand.Rand, s string) string {
		bad := []string{`\ud800`, `\udfff`, `\ud800x`, `\udc00\ud800`, `\ud83d\u0041`}
		return strings.Replace(s, "acct-1", "acct-"+bad[r.IntN(len(bad))], 1)
	}},
}

// foldCase changes the case of at least one letter of a quoted name, sometimes
// to a Unicode letter that case-folds to it (ſ for s, K for k).
func foldCase(r *rand.Rand, n string) string {
	b := []rune(n)
	for {
		i := 1 + r.IntN(len(b)-2)
		switch c := b[i]; {
		case c == 's' && r.IntN(2) == 0:
			b[i] = 'ſ'
		case c == 'k' && r.IntN(2) == 0:
			b[i] = 'K'
		case c >= 'a' && c <= 'z':
			b[i] = c - 'a' + 'A'
		default:
			continue
		}
		return string(b)
	}
}

// TestStrictJSONProperty: the unmutated document is allowed; every mutation of
// it, at random places, is denied with ErrBadArgs before the tool runs, and is
// recorded.
func TestStrictJSONProperty(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "rules:\n  - {id: r, effect: permit, tools: [t]}\n", nil)
	ran := 0
	g, err := tools.NewGuard(w.enf, tools.Tool{Name: "t"}, func(ctx context.Context, a strictArgs) (string, error) {
		ran++
		return a.Payee, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := w.ctx(t, "model:strict", "a")
	if _, err := g.CallJSON(ctx, json.RawMessage(strictBase)); err != nil {
		t.Fatalf("base document denied: %v", err)
	}
	r := rand.New(rand.NewPCG(7, 11))
	for _, m := range strictMutations {
		for range 40 {
			doc := m.mut(r, strictBase)
			before := ran
			_, err := g.CallJSON(ctx, json.RawMessage(doc))
			if !errors.Is(err, tools.ErrBadArgs) {
				t.Fatalf("%s: %q: err = %v, want ErrBadArgs", m.name, doc, err)
			}
			if ran != before {
				t.Fatalf("%s: %q: the tool ran", m.name, doc)
			}
		}
	}
}

// TestInvalidUTF8GoArgs: Go callers get the same rule: a string that is not
// valid UTF-8 anywhere in the arguments denies the call.
func TestInvalidUTF8GoArgs(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "rules:\n  - {id: r, effect: permit, tools: [t]}\n", nil)
	g, err := tools.NewGuard(w.enf, tools.Tool{Name: "t"}, func(ctx context.Context, a strictArgs) (string, error) { return a.Payee, nil })
	if err != nil {
		t.Fatal(err)
	}
	ctx := w.ctx(t, "model:utf8", "a")
	bad := "acct-\xff"
	for name, a := range map[string]strictArgs{
		"field":     {Payee: bad},
		"slice":     {Tags: []string{"ok", bad}},
		"nested":    {Meta: strictInner{Source: bad}},
		"map value": {Extra: map[string]string{"k": bad}},
		"map key":   {Extra: map[string]string{bad: "v"}},
	} {
		if _, err := g.Call(ctx, a); !errors.Is(err, tools.ErrBadArgs) {
			t.Errorf("%s: err = %v, want ErrBadArgs", name, err)
		}
	}
	if _, err := g.Call(ctx, strictArgs{Payee: "acct-é"}); err != nil {
		t.Errorf("valid UTF-8 denied: %v", err)
	}
	ga, err := tools.NewGuard(w.enf, tools.Tool{Name: "t"}, func(ctx context.Context, a map[string]any) (int, error) { return len(a), nil })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ga.Call(ctx, map[string]any{"x": []any{map[string]any{"y": bad}}}); !errors.Is(err, tools.ErrBadArgs) {
		t.Errorf("string behind interfaces: err = %v, want ErrBadArgs", err)
	}
}

// FuzzStrictJSON: whatever the bytes, a call the guard lets through was valid
// UTF-8, valid JSON, held no duplicate member and named only exact fields.
func FuzzStrictJSON(f *testing.F) {
	f.Add([]byte(strictBase))
	r := rand.New(rand.NewPCG(1, 1))
	for _, m := range strictMutations {
		f.Add([]byte(m.mut(r, strictBase)))
	}
	w := newWorld(f, "rules:\n  - {id: r, effect: permit, tools: [t]}\n", nil)
	g, err := tools.NewGuard(w.enf, tools.Tool{Name: "t"}, func(ctx context.Context, a strictArgs) (string, error) { return a.Payee, nil })
	if err != nil {
		f.Fatal(err)
	}
	ctx := w.ctx(f, "model:fuzz", "a")
	fields := map[string]bool{"amount_cents": true, "payee": true, "tags": true, "meta": true, "extra": true}
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := g.CallJSON(ctx, json.RawMessage(data)); err != nil {
			return
		}
		if len(bytes.TrimSpace(data)) == 0 {
			return // empty arguments mean {}
		}
		if !utf8.Valid(data) || !json.Valid(data) {
			t.Fatalf("allowed invalid input %q", data)
		}
		var top map[string]json.RawMessage
		if err := json.Unmarshal(data, &top); err != nil {
			t.Fatalf("allowed %q that is not an object: %v", data, err)
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.Token() // {
		keys := 0
		for dec.More() {
			k, _ := dec.Token()
			if !fields[k.(string)] {
				t.Fatalf("allowed %q with member %q", data, k)
			}
			var skip json.RawMessage
			dec.Decode(&skip)
			keys++
		}
		if keys != len(top) {
			t.Fatalf("allowed %q with a duplicate member", data)
		}
	})
}

// Cyclic or absurdly deep Go arguments are refused, never walked until the
// stack runs out (a fatal error no recover catches); and a fixed-size array
// takes no extra JSON elements.
func TestCyclicArgsAndArrayOverflow(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "rules:\n  - {id: r, effect: permit, tools: [t]}\n", nil)
	g, err := tools.NewGuard(w.enf, tools.Tool{Name: "t"}, func(ctx context.Context, a []any) (int, error) { return len(a), nil })
	if err != nil {
		t.Fatal(err)
	}
	ctx := w.ctx(t, "model:cycle", "a")
	s := []any{nil}
	s[0] = s
	if _, err := g.Call(ctx, s); !errors.Is(err, tools.ErrBadArgs) {
		t.Fatalf("cyclic args: err = %v, want ErrBadArgs", err)
	}
	type fixed struct {
		P [1]string `json:"p"`
	}
	ga, err := tools.NewGuard(w.enf, tools.Tool{Name: "t"}, func(ctx context.Context, a fixed) (string, error) { return a.P[0], nil })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ga.CallJSON(ctx, json.RawMessage(`{"p":["acct-1","acct-2"]}`)); !errors.Is(err, tools.ErrBadArgs) {
		t.Fatalf("array overflow: err = %v, want ErrBadArgs", err)
	}
}
