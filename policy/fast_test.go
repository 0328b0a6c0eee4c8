package policy

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"cel.dev/cel-go/common/types"

	"github.com/modelguard/modelguard/identity"
)

type fuzzArgs struct {
	S      string   `json:"s"`
	T      string   `json:"t,omitempty"`
	N      int64    `json:"n"`
	M      int32    `json:"m"`
	B      bool     `json:"b"`
	L      []string `json:"l"`
	Hidden string   `json:"-"`
	Nested struct {
		X string `json:"x"`
	} `json:"nested"`
}

// gen builds a CEL bool expression from a byte stream, mostly within the fast
// path's subset and sometimes outside it.
type gen struct {
	b []byte
	i int
}

func (g *gen) next() int {
	if g.i >= len(g.b) {
		return 0
	}
	g.i++
	return int(g.b[g.i-1])
}

var (
	genStrings = []string{"args.s", "args.t", "args.nested.x", "identity.agent", "identity.sub", "identity.model.name",
		"request.session", "tool.name", `"a"`, `""`, `"support-bot"`, `"ab"`, "args.s + args.t"}
	genInts  = []string{"args.n", "args.m", "0", "1", "-5", "50000", "args.n + 1", "size(args.s)"}
	genLists = []string{"args.l", "identity.scopes", `["a", "b"]`, "tool.labels", "[]"}
	genCmp   = []string{"==", "!=", "<", "<=", ">", ">="}
)

func (g *gen) pick(xs []string) string { return xs[g.next()%len(xs)] }

func (g *gen) boolean(depth int) string {
	k := g.next() % 9
	if depth > 3 {
		k %= 4
	}
	switch k {
	case 0:
		return g.pick(genStrings) + " " + g.pick(genCmp) + " " + g.pick(genStrings)
	case 1:
		return g.pick(genInts) + " " + g.pick(genCmp) + " " + g.pick(genInts)
	case 2:
		return g.pick(genStrings) + " in " + g.pick(genLists)
	case 3:
		return g.pick(genStrings) + "." + g.pick([]string{"startsWith", "endsWith", "contains"}) + "(" + g.pick(genStrings) + ")"
	case 4, 5:
		return "(" + g.boolean(depth+1) + ") " + g.pick([]string{"&&", "||"}) + " (" + g.boolean(depth+1) + ")"
	case 6:
		return "!(" + g.boolean(depth+1) + ")"
	case 7:
		return g.pick([]string{"args.b", "true", "false"}) + " == " + g.pick([]string{"args.b", "true", "false"})
	default:
		return g.pick([]string{"args.b", "true", "false", "args.l.exists(x, x == args.s)", "size(args.l) > 0"})
	}
}

func (g *gen) args() *fuzzArgs {
	words := []string{"", "a", "ab", "b", "support-bot", "ä", "\x00"}
	a := &fuzzArgs{S: g.pick(words), T: g.pick(words), N: int64(int8(g.next())), M: int32(int8(g.next())), B: g.next()%2 == 0}
	for range g.next() % 3 {
		a.L = append(a.L, g.pick(words))
	}
	a.Nested.X = g.pick(words)
	return a
}

// FuzzFastPath holds the Go fast path to cel-go's answers: whenever the fast
// path answers, cel-go must give the same bool (and no error).
func FuzzFastPath(f *testing.F) {
	for _, seed := range []string{"\x00\x01\x02", "\x04\x00\x05\x02\x03", "\x06\x04\x01\x02", "\x03\x03\x01\x02", "\x02\x07\x01"} {
		f.Add([]byte(seed))
	}
	opts := Options{}.withDefaults()
	base, err := baseEnv(opts)
	if err != nil {
		f.Fatal(err)
	}
	env, err := argsEnv(base, reflect.TypeFor[fuzzArgs]())
	if err != nil {
		f.Fatal(err)
	}
	s := &Set{opts: opts}
	f.Fuzz(func(t *testing.T, data []byte) {
		g := &gen{b: data}
		expr := g.boolean(0)
		a, iss := env.Compile(expr)
		if iss.Err() != nil {
			return // e.g. a comparison of mismatched types
		}
		prg, err := s.program(env, a, hasComprehension(a), false)
		if err != nil {
			t.Fatal(err)
		}
		fast := compileFast(a, reflect.TypeFor[fuzzArgs]())
		if fast == nil {
			return
		}
		for range 4 {
			act := &activation{identity: &identity.Claims{Agent: g.pick(genWords()), Subject: g.pick(genWords()),
				Scopes: []string{g.pick(genWords())}, Model: identity.Model{Name: g.pick(genWords())}},
				tool: &toolInfo{Name: "t", Labels: []string{"a"}}, args: g.args(), request: Request{SessionID: g.pick(genWords())}}
			fv, ok := fast(act)
			out, _, err := prg.ContextEval(context.Background(), act)
			if !ok {
				continue
			}
			b, isBool := out.(types.Bool)
			if err != nil || !isBool || bool(b) != fv {
				t.Fatalf("%s with %+v: fast path says %v, cel-go says %v (%v)", expr, act.args, fv, out, err)
			}
		}
	})
}

func genWords() []string { return []string{"", "a", "ab", "support-bot", "b"} }

// The fast path covers the conditions real policies are made of, and falls
// back where it must.
func TestFastPathCoverage(t *testing.T) {
	opts := Options{}.withDefaults()
	base, _ := baseEnv(opts)
	env, _ := argsEnv(base, reflect.TypeFor[fuzzArgs]())
	for expr, want := range map[string]bool{
		`identity.agent == "support-bot" && "tickets:read" in identity.scopes`: true,
		`args.n <= 50000 && identity.env == "prod"`:                            true,
		`args.s.startsWith("src/") || args.s.startsWith("docs/")`:              true,
		`!(args.b) && args.m > 3 && request.session != ""`:                     true,
		`tool.name in ["a", "b"] && args.nested.x.endsWith("x")`:               true,
		`identity.claims["team"] == "x"`:                                       false, // map index can fail
		`args.l.exists(x, x == "a")`:                                           false, // comprehension
		`args.s + "x" == "ax"`:                                                 false, // concatenation
		`double(args.n) > 1.5`:                                                 false,
		`request.time.getHours() < 6`:                                          false,
	} {
		a, iss := env.Compile(expr)
		if iss.Err() != nil {
			t.Fatalf("%s: %v", expr, iss.Err())
		}
		if got := compileFast(a, reflect.TypeFor[fuzzArgs]()) != nil; got != want {
			t.Errorf("%s: fast path = %v, want %v", expr, got, want)
		}
	}
	// An unnamed struct input is dynamic to CEL (which cannot adapt it): no fast path.
	anon := reflect.TypeOf(struct {
		L []string `json:"l"`
	}{})
	aenv, _ := argsEnv(base, anon)
	if a, iss := aenv.Compile(`"a" in args.l`); iss.Err() != nil || compileFast(a, anon) != nil {
		t.Errorf("fast path for an unnamed struct input: %v", iss.Err())
	}
	// An input of another shape (a map, as replay passes) falls back.
	a, _ := env.Compile(`args.s == "a"`)
	fast := compileFast(a, reflect.TypeFor[fuzzArgs]())
	for _, args := range []any{nil, map[string]any{"s": "a"}, fuzzArgs{S: "a"}, (*fuzzArgs)(nil)} {
		if _, ok := fast(&activation{args: args, tool: &toolInfo{}}); ok {
			t.Errorf("fast path answered for args %s", strings.TrimSpace(fmt.Sprintf("%#v", args)))
		}
	}
}
