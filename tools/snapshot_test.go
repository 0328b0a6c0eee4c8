package tools_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-jose/go-jose/v4"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
)

// Arguments a Go caller shares with a guarded call: maps, slices and pointers
// (isoArgs, the isolating path) and, in dynArgs, values behind interfaces and
// fields with their own MarshalJSON (the normalizing path).
type isoArgs struct {
	Meta   map[string]string   `json:"meta"` // meta["to"] is the payee
	Tags   []string            `json:"tags"`
	Note   *string             `json:"note"`
	Nested []map[string][]int  `json:"nested"`
	Grid   [2][]string         `json:"grid"`
	Deep   map[string]*isoLeaf `json:"deep"`
}

type isoLeaf struct {
	V []string `json:"v"`
}

type dynArgs struct {
	First trap              `json:"first"` // its MarshalJSON runs before any other field is encoded
	Meta  map[string]string `json:"meta"`
	Tags  []string          `json:"tags"`
	Extra map[string]any    `json:"extra"`
	Any   any               `json:"any"`
	Last  trap              `json:"last"` // … and this one after all of them
}

// trap is a field whose MarshalJSON runs the armed mutation, if any: a caller's
// own type may do anything while the guard encodes it.
type trap struct{ pos string }

var armed struct {
	pos string
	fn  func()
}

func (t trap) MarshalJSON() ([]byte, error) {
	if armed.fn != nil && armed.pos == t.pos {
		fn := armed.fn
		armed.fn = nil
		fn()
	}
	return []byte(`"trap"`), nil
}

func (t *trap) UnmarshalJSON([]byte) error { return nil }

// hooks is every point of a call where code other than the guard runs: the
// verifier, the kill switch, the audit sink and the secret source. Each calls
// the mutation armed for it, as a goroutine synchronized with the call could
// at that point.
type hooks struct {
	at string
	fn func()
}

func (h *hooks) fire(at string) {
	if h.fn != nil && h.at == at {
		fn := h.fn
		h.fn = nil
		fn()
	}
}

type hookVerifier struct {
	v tools.Verifier
	h *hooks
}

func (v hookVerifier) Verify(ctx context.Context, tok string) (*identity.Claims, error) {
	v.h.fire("verify")
	return v.v.Verify(ctx, tok)
}

type hookKill struct{ h *hooks }

func (k hookKill) Stopped(context.Context, *identity.Claims, string) (*tools.Kill, error) {
	k.h.fire("kill")
	return nil, nil
}

type hookSink struct {
	audit.Memory
	h *hooks
}

func (s *hookSink) Record(ctx context.Context, e audit.Event) error {
	if e.Phase == audit.PhaseDecision {
		s.h.fire("decision")
	}
	return s.Memory.Record(ctx, e)
}

const snapshotPolicy = `rules:
  - {id: pay, effect: permit, tools: [iso, ptr, dyn]}
  - id: no-mallory
    effect: forbid
    tools: [iso, ptr, dyn]
    when: 'args.meta["to"] == "mallory" || "mallory" in args.tags'
`

type snapWorld struct {
	enf  *tools.Enforcer
	sink *hookSink
	h    *hooks
	ctx  context.Context
}

func newSnapWorld(t testing.TB) *snapWorld {
	t.Helper()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	key, _ := identity.GenerateKey(jose.EdDSA, "k")
	iss, _ := identity.NewIssuer("https://id.example", key, identity.IssuerOptions{Now: clock})
	keys, _ := identity.NewKeySet(iss.PublicKey())
	v, err := identity.NewVerifier("https://id.example", "modelguard", keys, identity.VerifierOptions{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	rules, err := policy.Parse("snapshot.yaml", []byte(snapshotPolicy))
	if err != nil {
		t.Fatal(err)
	}
	set, err := policy.NewSet(rules, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := &snapWorld{h: &hooks{}}
	w.sink = &hookSink{h: w.h}
	secrets := tools.SecretFunc(func(context.Context, string) (string, error) {
		w.h.fire("secret")
		return "s3cr3t-value-for-the-tool", nil
	})
	w.enf, err = tools.NewEnforcer(hookVerifier{v, w.h}, set, w.sink, tools.Options{Now: clock, RecordArgs: true,
		Kill: hookKill{w.h}, Secrets: secrets})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.Mint(identity.Claims{Subject: "model:snap", Agent: "a", Audience: []string{"modelguard"}})
	if err != nil {
		t.Fatal(err)
	}
	w.ctx = identity.WithToken(context.Background(), tok)
	return w
}

var hookPoints = []string{"none", "verify", "kill", "first", "last", "decision", "secret"}

// payees are what a mutation writes: mallory is forbidden, the others are not.
var payees = []string{"alice", "bob", "mallory", "mallory", "carol\u2028", "<&>"}

func randString(r *rand.Rand) string {
	return []string{"a", "ü", "x\"y", "\\", "tab\t", "", "日本", "mallory"}[r.IntN(8)] + fmt.Sprint(r.IntN(10))
}

// randJSON is a random value of the kinds a decoded any holds, and some it does
// not (ints, []string, a struct, a big integer): the normalizing path turns
// those into what a decoder gives back.
func randJSON(r *rand.Rand, depth int) any {
	switch k := r.IntN(10); {
	case depth > 2 || k < 2:
		return randString(r)
	case k == 2:
		return float64(r.IntN(1000)) / 8
	case k == 3:
		return r.IntN(2) == 0
	case k == 4:
		return nil
	case k == 5:
		m := map[string]any{}
		for range r.IntN(4) {
			m[randString(r)] = randJSON(r, depth+1)
		}
		return m
	case k == 6:
		s := make([]any, r.IntN(4))
		for i := range s {
			s[i] = randJSON(r, depth+1)
		}
		return s
	case k == 7:
		return []string{randString(r), randString(r)}
	case k == 8:
		return struct {
			B string `json:"b"`
			A int    `json:"a"`
		}{randString(r), r.IntN(100)}
	}
	return int64(1)<<53 + 1 // not a float64: normalized to the float64 a decoder reads
}

func randIso(r *rand.Rand) isoArgs {
	a := isoArgs{Meta: map[string]string{"to": payees[r.IntN(3)]}, Tags: make([]string, 1+r.IntN(3), 4),
		Deep: map[string]*isoLeaf{"x": {V: []string{"v"}}}}
	for i := range a.Tags {
		a.Tags[i] = randString(r)
	}
	for range r.IntN(3) {
		a.Meta[randString(r)] = randString(r)
	}
	if r.IntN(2) == 0 {
		s := randString(r)
		a.Note = &s
	}
	for range r.IntN(3) {
		a.Nested = append(a.Nested, map[string][]int{randString(r): {r.IntN(9), r.IntN(9)}})
	}
	a.Grid[r.IntN(2)] = []string{randString(r)}
	return a
}

// mutateIso changes what a shares with its caller, in place, the way a caller
// holding the same maps, slices and pointers could.
func mutateIso(r *rand.Rand, a *isoArgs) {
	switch r.IntN(7) {
	case 0:
		a.Meta["to"] = payees[r.IntN(len(payees))]
	case 1:
		a.Tags[r.IntN(len(a.Tags))] = payees[r.IntN(len(payees))]
	case 2:
		_ = append(a.Tags[:len(a.Tags):cap(a.Tags)], "mallory") // writes past len into the shared array
		a.Meta["to"] = "mallory"
	case 3:
		if a.Note != nil {
			*a.Note = "mallory"
		}
		delete(a.Meta, "to")
	case 4:
		for _, m := range a.Nested {
			for k := range m {
				m[k][0] = 99
			}
		}
		a.Meta["to"] = "mallory"
	case 5:
		a.Deep["x"].V[0] = "mallory"
		a.Deep["y"] = &isoLeaf{}
	case 6:
		for _, g := range a.Grid {
			if len(g) > 0 {
				g[0] = "mallory"
			}
		}
		a.Tags[0] = "mallory"
	}
}

func randDyn(r *rand.Rand) dynArgs {
	a := dynArgs{First: trap{"first"}, Last: trap{"last"}, Meta: map[string]string{"to": payees[r.IntN(3)]},
		Tags: []string{randString(r)}, Extra: map[string]any{}, Any: randJSON(r, 0)}
	for range r.IntN(4) {
		a.Extra[randString(r)] = randJSON(r, 1)
	}
	a.Extra["list"] = []any{"x", map[string]any{"k": "v"}}
	return a
}

func mutateDyn(r *rand.Rand, a *dynArgs) {
	switch r.IntN(4) {
	case 0:
		a.Meta["to"] = payees[r.IntN(len(payees))]
	case 1:
		a.Tags[0] = "mallory"
	case 2:
		a.Extra["list"].([]any)[1].(map[string]any)["k"] = "mallory"
		a.Meta["to"] = "mallory"
	case 3:
		a.Extra["new"] = []any{"mallory"}
		a.Tags[0] = "mallory"
	}
}

// forbidden is the policy's forbid rule, read from the recorded arguments.
func forbidden(t *testing.T, recorded []byte) bool {
	var a struct {
		Meta map[string]string `json:"meta"`
		Tags []string          `json:"tags"`
	}
	if err := json.Unmarshal(recorded, &a); err != nil {
		t.Fatalf("recorded arguments %s: %v", recorded, err)
	}
	to, ok := a.Meta["to"]
	return !ok || to == "mallory" || slices.Contains(a.Tags, "mallory")
}

// TestDecidedIsWhatRuns is the invariant of the arguments snapshot: whatever a
// caller sharing maps, slices, pointers or interface values with the arguments
// changes, at any point of the call where other code runs (its own
// MarshalJSON, the verifier, the kill switch, the audit sink, the secret
// source), the decision follows the recorded arguments, the tool runs with
// exactly those arguments (their JSON is byte for byte the record), both
// records carry the digest of that JSON, and the caller's values are never
// touched by the tool.
func TestDecidedIsWhatRuns(t *testing.T) {
	w := newSnapWorld(t)
	var got []byte
	record := func(in any) {
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatalf("tool input does not encode: %v", err)
		}
		got = b
	}
	iso, err := tools.NewGuard(w.enf, tools.Tool{Name: "iso", Secrets: []string{"k"}}, func(ctx context.Context, a isoArgs) (string, error) {
		record(a)
		a.Meta["to"], a.Tags[0] = "tool-wrote-this", "tool-wrote-this" // the tool's copy is its own
		return "done", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ptr, err := tools.NewGuard(w.enf, tools.Tool{Name: "ptr", Secrets: []string{"k"}}, func(ctx context.Context, a *isoArgs) (string, error) {
		record(a)
		a.Meta["to"] = "tool-wrote-this"
		return "done", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := tools.NewGuard(w.enf, tools.Tool{Name: "dyn", Secrets: []string{"k"}}, func(ctx context.Context, a dynArgs) (string, error) {
		record(a)
		a.Meta["to"] = "tool-wrote-this"
		return "done", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(10, 1))
	counts := map[string]int{}
	for i := range 3000 {
		w.sink.Reset()
		got = nil
		at := hookPoints[r.IntN(len(hookPoints))]
		kind := []string{"iso", "ptr", "dyn"}[r.IntN(3)]
		var call func() error
		var callerJSON func() []byte // the caller's value as it is after the call
		switch kind {
		case "iso", "ptr":
			a := randIso(r)
			w.h.at, w.h.fn = at, func() { mutateIso(r, &a) }
			if kind == "iso" {
				call = func() error { _, err := iso.Call(w.ctx, a); return err }
			} else {
				call = func() error { _, err := ptr.Call(w.ctx, &a); return err }
			}
			callerJSON = func() []byte { b, _ := json.Marshal(a); return b }
		default:
			a := randDyn(r)
			w.h.at, w.h.fn = at, func() { mutateDyn(r, &a) }
			if at == "first" || at == "last" {
				armed.pos, armed.fn, w.h.fn = at, w.h.fn, nil
			}
			call = func() error { _, err := dyn.Call(w.ctx, a); return err }
			callerJSON = func() []byte { b, _ := json.Marshal(a); return b }
		}
		err := call()
		armed.fn, w.h.fn = nil, nil
		evs := w.sink.Events()
		if len(evs) == 0 || evs[0].Phase != audit.PhaseDecision {
			t.Fatalf("#%d %s/%s: no decision record: %v", i, kind, at, err)
		}
		d := evs[0]
		if d.ArgsDigest != audit.DigestBytes(d.Args) {
			t.Fatalf("#%d %s/%s: the digest is not of the recorded arguments %s", i, kind, at, d.Args)
		}
		bad := forbidden(t, d.Args)
		switch {
		case err == nil && bad:
			t.Fatalf("#%d %s/%s: allowed, but the recorded arguments are forbidden: %s", i, kind, at, d.Args)
		case err != nil && !bad:
			t.Fatalf("#%d %s/%s: denied (%v), but the recorded arguments are allowed: %s", i, kind, at, err, d.Args)
		case err != nil && !errors.Is(err, tools.ErrForbidden):
			t.Fatalf("#%d %s/%s: err = %v, want ErrForbidden", i, kind, at, err)
		case err != nil:
			counts["denied"]++
			continue
		}
		counts["allowed"]++
		if !bytes.Equal(got, d.Args) {
			t.Fatalf("#%d %s/%s: the tool ran with\n%s\nbut the decision recorded\n%s", i, kind, at, got, d.Args)
		}
		if len(evs) != 2 || evs[1].ArgsDigest != d.ArgsDigest {
			t.Fatalf("#%d %s/%s: outcome record missing or with another digest: %+v", i, kind, at, evs)
		}
		if bytes.Contains(callerJSON(), []byte("tool-wrote-this")) {
			t.Fatalf("#%d %s/%s: the tool's writes reached the caller's value", i, kind, at)
		}
	}
	if counts["allowed"] < 1000 || counts["denied"] < 500 {
		t.Fatalf("too few of each outcome to mean anything: %v", counts)
	}
}

// TestSnapshotExamples: the examples, one by one.
func TestSnapshotExamples(t *testing.T) {
	w := newSnapWorld(t)
	var ran isoArgs
	iso, err := tools.NewGuard(w.enf, tools.Tool{Name: "iso"}, func(ctx context.Context, a isoArgs) (string, error) {
		ran = a
		return "ok", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// After the decision: policy allowed to=alice; the tool must not run with mallory.
	a := isoArgs{Meta: map[string]string{"to": "alice"}, Tags: []string{"x"}}
	w.h.at, w.h.fn = "decision", func() { a.Meta["to"] = "mallory" }
	if _, err := iso.Call(w.ctx, a); err != nil {
		t.Fatal(err)
	}
	if ran.Meta["to"] != "alice" {
		t.Fatalf("policy allowed to=alice, the tool ran with to=%s", ran.Meta["to"])
	}
	// Between the digest and the decision: the record must show what was decided.
	w.sink.Reset()
	a = isoArgs{Meta: map[string]string{"to": "alice"}, Tags: []string{"x"}}
	w.h.at, w.h.fn = "kill", func() { a.Meta["to"] = "mallory" }
	if _, err := iso.Call(w.ctx, a); err != nil {
		t.Fatalf("decided on arguments the record does not show: %v", err)
	}
	if ev := w.sink.Events()[0]; !bytes.Contains(ev.Args, []byte(`"to":"alice"`)) || ran.Meta["to"] != "alice" {
		t.Fatalf("recorded %s, ran with %v", ev.Args, ran.Meta)
	}
}

type plainArgs struct {
	ID    string    `json:"id"`
	N     [3]int64  `json:"n"`
	When  time.Time `json:"when"`
	Inner struct {
		F float64 `json:"f"`
	} `json:"inner"`
}

type withMap struct {
	ID string            `json:"id"`
	M  map[string]string `json:"m"`
}

type withAny struct {
	V any `json:"v"`
}

type withRaw struct {
	R json.RawMessage `json:"r"`
}

type withPrivate struct {
	ID    string `json:"id"`
	cache map[string]int
}

// TestSnapshotPath: the path is decided per type at NewGuard: plain values keep
// the cheap path, anything that can refer to shared memory is isolated, and
// interfaces and custom marshalers are normalized.
func TestSnapshotPath(t *testing.T) {
	for _, c := range []struct {
		t    reflect.Type
		want string
	}{
		{reflect.TypeFor[plainArgs](), "value"},
		{reflect.TypeFor[int](), "value"},
		{reflect.TypeFor[[4]string](), "value"},
		{reflect.TypeFor[*plainArgs](), "isolate"},
		{reflect.TypeFor[withMap](), "isolate"},
		{reflect.TypeFor[withPrivate](), "isolate"},
		{reflect.TypeFor[[]string](), "isolate"},
		{reflect.TypeFor[isoArgs](), "isolate"},
		{reflect.TypeFor[withAny](), "normalize"},
		{reflect.TypeFor[map[string]any](), "normalize"},
		{reflect.TypeFor[withRaw](), "normalize"},
		{reflect.TypeFor[dynArgs](), "normalize"},
	} {
		if got := tools.SnapshotPathForTest(c.t); got != c.want {
			t.Errorf("%v: path %s, want %s", c.t, got, c.want)
		}
	}
}

// dupMarshal is a caller's type whose MarshalJSON writes a duplicate member: a
// reader that takes the first would see other arguments than the policy.
type dupMarshal struct{}

func (dupMarshal) MarshalJSON() ([]byte, error) { return []byte(`{"to":"alice","to":"mallory"}`), nil }

// TestSnapshotStrictEncoding: bytes a caller's own MarshalJSON writes into the
// canonical encoding are held to the strict rules, and a value that does not
// decode from its own encoding cannot be isolated: both are bad_arguments.
func TestSnapshotStrictEncoding(t *testing.T) {
	w := newSnapWorld(t)
	ran := false
	g, err := tools.NewGuard(w.enf, tools.Tool{Name: "dyn"}, func(ctx context.Context, a map[string]any) (string, error) {
		ran = true
		return "", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, a := range map[string]map[string]any{
		"NaN":  {"meta": map[string]any{"to": "alice"}, "n": nanFloat()},
		"chan": {"meta": map[string]any{"to": "alice"}, "c": make(chan int)},
	} {
		if _, err := g.Call(w.ctx, a); !errors.Is(err, tools.ErrBadArgs) || ran {
			t.Errorf("%s: err = %v (ran %v), want ErrBadArgs", name, err, ran)
		}
	}
	// A duplicate written by a type the input type names is refused …
	gd, err := tools.NewGuard(w.enf, tools.Tool{Name: "dyn"}, func(ctx context.Context, a struct {
		Meta dupMarshal `json:"meta"`
	}) (string, error) {
		ran = true
		return "", nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gd.Call(w.ctx, struct {
		Meta dupMarshal `json:"meta"`
	}{}); !errors.Is(err, tools.ErrBadArgs) || ran {
		t.Errorf("duplicate member: err = %v (ran %v), want ErrBadArgs", err, ran)
	}
	// … and one written behind an interface is normalized away: the record
	// holds the value the policy decided (here the last member, forbidden).
	w.sink.Reset()
	if _, err := g.Call(w.ctx, map[string]any{"meta": dupMarshal{}, "tags": []string{}}); !errors.Is(err, tools.ErrForbidden) || ran {
		t.Errorf("duplicate behind any: err = %v (ran %v), want ErrForbidden; %+v", err, ran, w.sink.Events())
	}
	if ev := w.sink.Events()[0]; string(ev.Args) != `{"meta":{"to":"mallory"},"tags":[]}` {
		t.Errorf("recorded %s", ev.Args)
	}
}

func nanFloat() float64 { z := 0.0; return z / z }

// TestSnapshotDropsWhatJSONDoesNot: on the isolating paths the tool gets the
// value decoded from the arguments' JSON, so what JSON does not carry
// (unexported fields, json:"-") reaches it zeroed: it was never decided.
func TestSnapshotDropsWhatJSONDoesNot(t *testing.T) {
	w := newSnapWorld(t)
	rules, _ := policy.Parse("p.yaml", []byte("rules:\n  - {id: p, effect: permit, tools: [priv]}\n"))
	set, _ := policy.NewSet(rules, policy.Options{})
	if err := w.enf.SetPolicy(context.Background(), set); err != nil {
		t.Fatal(err)
	}
	var got withPrivate
	g, err := tools.NewGuard(w.enf, tools.Tool{Name: "priv"}, func(ctx context.Context, a withPrivate) (string, error) {
		got = a
		return a.ID, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Call(w.ctx, withPrivate{ID: "x", cache: map[string]int{"k": 1}}); err != nil {
		t.Fatal(err)
	}
	if got.ID != "x" || got.cache != nil {
		t.Fatalf("tool got %+v", got)
	}
}

// FuzzArgsSnapshot: whatever a caller's arguments hold (any JSON value behind
// interfaces, or a string that is not UTF-8) and wherever the caller changes
// what it shares with them, the decision follows the recorded arguments and an
// allowed tool runs with exactly them. Seeded with the examples.
func FuzzArgsSnapshot(f *testing.F) {
	f.Add([]byte(`{"to":"alice"}`), uint8(5), uint64(1))
	f.Add([]byte(`{"n":9007199254740993,"s":["mallory"]}`), uint8(3), uint64(2))
	f.Add([]byte(`[1,{"a":[null,true,"acct-\u00ff"]}]`), uint8(4), uint64(3))
	f.Add([]byte("\"acct-\xff\""), uint8(0), uint64(4))
	f.Add([]byte(`{"k":{"k":{"k":"v"}}}`), uint8(6), uint64(5))
	w := newSnapWorld(f)
	var got []byte
	dyn, err := tools.NewGuard(w.enf, tools.Tool{Name: "dyn", Secrets: []string{"k"}}, func(ctx context.Context, a dynArgs) (string, error) {
		got, _ = json.Marshal(a)
		return "done", nil
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte, hook uint8, seed uint64) {
		r := rand.New(rand.NewPCG(seed, seed))
		var v any
		if json.Unmarshal(data, &v) != nil {
			v = string(data) // maybe not UTF-8: then the call must be bad_arguments
		}
		a := dynArgs{First: trap{"first"}, Last: trap{"last"}, Meta: map[string]string{"to": payees[r.IntN(3)]},
			Tags: []string{"t"}, Extra: map[string]any{"list": []any{"x", map[string]any{"k": "v"}}, "v": v}, Any: v}
		at := hookPoints[int(hook)%len(hookPoints)]
		w.h.at, w.h.fn = at, func() { mutateDyn(r, &a) }
		if at == "first" || at == "last" {
			armed.pos, armed.fn, w.h.fn = at, w.h.fn, nil
		}
		w.sink.Reset()
		got = nil
		_, err := dyn.Call(w.ctx, a)
		armed.fn, w.h.fn = nil, nil
		evs := w.sink.Events()
		if len(evs) == 0 {
			t.Fatalf("no decision record: %v", err)
		}
		d := evs[0]
		if errors.Is(err, tools.ErrBadArgs) {
			if _, isString := v.(string); !isString || utf8.ValidString(v.(string)) {
				t.Fatalf("valid arguments refused: %v", err)
			}
			return
		}
		if d.ArgsDigest != audit.DigestBytes(d.Args) {
			t.Fatalf("the digest is not of the recorded arguments %s", d.Args)
		}
		switch bad := forbidden(t, d.Args); {
		case err == nil && bad:
			t.Fatalf("allowed, but the recorded arguments are forbidden: %s", d.Args)
		case err != nil && !bad:
			t.Fatalf("denied (%v), but the recorded arguments are allowed: %s", err, d.Args)
		case err == nil && !bytes.Equal(got, d.Args):
			t.Fatalf("the tool ran with\n%s\nbut the decision recorded\n%s", got, d.Args)
		}
	})
}

// hostileIn is an input type whose own JSON methods misbehave as mode says.
type hostileIn struct{ mode string }

func (h hostileIn) MarshalJSON() ([]byte, error) {
	switch h.mode {
	case "marshal-panic":
		panic("MarshalJSON exploded")
	case "marshal-error":
		return nil, errors.New("cannot encode")
	case "marshal-invalid":
		return []byte("{not json"), nil
	case "marshal-dup":
		return []byte(`{"a":1,"a":2}`), nil
	}
	return []byte(`"` + h.mode + `"`), nil
}

func (h *hostileIn) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case `"unmarshal-panic"`:
		panic("UnmarshalJSON exploded")
	case `"unmarshal-error"`:
		return errors.New("cannot decode")
	}
	return json.Unmarshal(b, &h.mode)
}

// TestHostileArgumentTypes: the caller's own MarshalJSON or UnmarshalJSON
// panicking, failing, writing invalid or duplicate JSON, on every snapshot path
// (a value, behind a pointer, behind an interface) and through CallJSON,
// refuses the arguments as bad_arguments with exactly one decision record; no
// panic escapes and the tool does not run.
func TestHostileArgumentTypes(t *testing.T) {
	w := newWorld(t, "rules:\n  - {id: r, effect: permit, tools: [v, p, i]}\n", nil)
	ran := 0
	gv, _ := tools.NewGuard(w.enf, tools.Tool{Name: "v"}, func(_ context.Context, a struct {
		H hostileIn `json:"h"`
	}) (string, error) {
		ran++
		return "", nil
	})
	gp, _ := tools.NewGuard(w.enf, tools.Tool{Name: "p"}, func(_ context.Context, a struct {
		H *hostileIn `json:"h"`
	}) (string, error) {
		ran++
		return "", nil
	})
	gi, _ := tools.NewGuard(w.enf, tools.Tool{Name: "i"}, func(_ context.Context, a map[string]any) (string, error) {
		ran++
		return "", nil
	})
	ctx := w.ctx(t, "model:h", "a")
	for _, mode := range []string{"marshal-panic", "marshal-error", "marshal-invalid", "marshal-dup", "unmarshal-panic", "unmarshal-error"} {
		calls := map[string]func() error{
			"value": func() error {
				_, err := gv.Call(ctx, struct {
					H hostileIn `json:"h"`
				}{hostileIn{mode}})
				return err
			},
			"pointer": func() error {
				_, err := gp.Call(ctx, struct {
					H *hostileIn `json:"h"`
				}{&hostileIn{mode}})
				return err
			},
			"interface": func() error { _, err := gi.Call(ctx, map[string]any{"h": hostileIn{mode}}); return err },
			"CallJSON":  func() error { _, err := gp.CallJSON(ctx, json.RawMessage(`{"h":"`+mode+`"}`)); return err },
		}
		for path, call := range calls {
			if path == "CallJSON" && !strings.HasPrefix(mode, "unmarshal") {
				continue // the model sends bytes: only decoding runs the type's code
			}
			if path == "interface" && strings.HasPrefix(mode, "unmarshal") || path == "interface" && mode == "marshal-dup" {
				continue // decoded as map[string]any: the type's UnmarshalJSON never runs, a duplicate is normalized away
			}
			if path == "value" && strings.HasPrefix(mode, "unmarshal") {
				continue // a value is not decoded again
			}
			w.sink.Reset()
			before := ran
			err, panicked := probe(call)
			if panicked || !errors.Is(err, tools.ErrBadArgs) || ran != before {
				t.Errorf("%s/%s: err = %v (panicked %v, ran %v), want ErrBadArgs", path, mode, err, panicked, ran != before)
				continue
			}
			if ev := w.sink.Events(); len(ev) != 1 || ev[0].Code != string(tools.CodeBadArgs) {
				t.Errorf("%s/%s: records %+v, want one bad_arguments decision", path, mode, ev)
			}
		}
	}
}
