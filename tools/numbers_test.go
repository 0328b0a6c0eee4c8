package tools_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/modelguard/modelguard/tools"
)

type numArgs struct {
	F float64 `json:"f"`
	G float32 `json:"g"`
	A any     `json:"a"`
	I int64   `json:"i"`
}

// randInt is a decimal integer literal near the edges of what floats hold
// exactly: around 2^24 and 2^53, powers of two far above them (exact), their
// neighbours (not), and very long ones.
func randInt(r *rand.Rand) string {
	var n big.Int
	switch k := r.IntN(10); {
	case k > 5 || k == 0:
		n.SetInt64(r.Int64N(1 << 22))
	case k == 1:
		n.Lsh(big.NewInt(1), 24)
		n.Add(&n, big.NewInt(r.Int64N(5)-2))
	case k == 2:
		n.Lsh(big.NewInt(1), 53)
		n.Add(&n, big.NewInt(r.Int64N(5)-2))
	case k == 3:
		n.Lsh(big.NewInt(1), uint(54+r.IntN(900)))
		n.Add(&n, big.NewInt(r.Int64N(3)-1))
	case k == 4:
		n.SetUint64(r.Uint64())
	case k == 5:
		n.Exp(big.NewInt(10), big.NewInt(int64(r.IntN(400))), nil)
	}
	if r.IntN(3) == 0 {
		n.Neg(&n)
	}
	return n.String()
}

// exactIn is the reference: s, parsed by strconv as a float of the given bits,
// is exactly the integer s.
func exactIn(s string, bits int) bool {
	f, err := strconv.ParseFloat(s, bits)
	if err != nil || math.IsInf(f, 0) {
		return false
	}
	var want big.Int
	want.SetString(s, 10)
	got, acc := big.NewFloat(f).Int(nil)
	return acc == big.Exact && got.Cmp(&want) == 0
}

// TestStrictJSONNumbersProperty: an integer literal bound for a float (a
// float64 or float32 field, or any value behind an interface, which decodes
// as float64) is taken only if that float holds it exactly, so a reader that
// keeps integers exact sees the same number as the policy (RFC 7493 §2.2).
// Integer fields are exact or refused by the decoder.
func TestStrictJSONNumbersProperty(t *testing.T) {
	w := newWorld(t, "rules:\n  - {id: r, effect: permit, tools: [n]}\n", nil)
	var got numArgs
	g, err := tools.NewGuard(w.enf, tools.Tool{Name: "n"}, func(ctx context.Context, a numArgs) (string, error) {
		got = a
		return "", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := w.ctx(t, "model:n", "a")
	r := rand.New(rand.NewPCG(7, 7))
	counts := map[bool]int{}
	for i := range 4000 {
		f, g32, a1, a2 := randInt(r), randInt(r), randInt(r), randInt(r)
		iv := strconv.FormatInt(r.Int64(), 10)
		doc := fmt.Sprintf(`{"f":%s,"g":%s,"a":[%s,{"x":%s}],"i":%s}`, f, g32, a1, a2, iv)
		want := exactIn(f, 64) && exactIn(g32, 32) && exactIn(a1, 64) && exactIn(a2, 64)
		got = numArgs{}
		_, err := g.CallJSON(ctx, json.RawMessage(doc))
		counts[want]++
		switch {
		case want && err != nil:
			t.Fatalf("#%d %s: refused (%v), but every float holds its integer exactly", i, doc, err)
		case !want && !errors.Is(err, tools.ErrBadArgs):
			t.Fatalf("#%d %s: err = %v, want ErrBadArgs", i, doc, err)
		case want:
			var wf big.Int
			wf.SetString(f, 10)
			if gf, _ := big.NewFloat(got.F).Int(nil); gf.Cmp(&wf) != 0 || strconv.FormatInt(got.I, 10) != iv {
				t.Fatalf("#%d %s: the tool got f=%v i=%d", i, doc, got.F, got.I)
			}
		}
	}
	if counts[true] < 500 || counts[false] < 500 {
		t.Fatalf("too few of each case: %v", counts)
	}
	for _, ex := range []string{`{"f":9007199254740993}`, `{"a":9007199254740993}`, `{"a":{"k":[-9007199254740993]}}`, `{"g":16777217}`} {
		if _, err := g.CallJSON(ctx, json.RawMessage(ex)); !errors.Is(err, tools.ErrBadArgs) {
			t.Errorf("%s: err = %v, want ErrBadArgs", ex, err)
		}
	}
	for _, ex := range []string{`{"f":9007199254740992}`, `{"a":1.5e300}`, `{"g":16777216}`, `{"i":9223372036854775807}`, `{"a":0.1}`} {
		if _, err := g.CallJSON(ctx, json.RawMessage(ex)); err != nil {
			t.Errorf("%s: refused: %v", ex, err)
		}
	}
}
