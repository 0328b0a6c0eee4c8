package policy

import (
	"reflect"
	"slices"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common"
)

// Compiling a rule costs tens of microseconds, and a policy for a fleet of tools
// has rules that cover many of them ("*", "tickets.*"). What a compiled rule
// depends on is the rule and the shape of the tool, never its name: the CEL
// environment is typed from the input type alone, and tool.name and tool.labels
// are read from the activation at run time. So a Set compiles each rule once per
// shape it meets and every Program of that shape shares the result; compile
// cost grows with the distinct shapes, not with the tools.

// shapeKey is everything a compiled rule depends on besides the rule itself.
// Whatever else comes to type the environment per tool belongs here.
type shapeKey struct {
	input reflect.Type
}

func shapeOf(t Tool) shapeKey { return shapeKey{input: t.Input} }

// compileCache holds a Set's compiled rules by shape. It only grows: a Set
// meets as many shapes as the program has input types.
type compileCache struct {
	mu     sync.Mutex
	shapes map[shapeKey]*shape
	// argsFree are the rules that never read args, compiled by NewSet's
	// check: every environment declares the same names but args, so their
	// checked and planned form is the same in every shape. Read-only once the
	// Set is built.
	argsFree map[int]compiledRule
}

// shape is the environment of one shape and the rules compiled in it. Only
// rules that compiled cleanly are kept: an error names the tool it was found
// for, so a failing rule is compiled again for each tool.
type shape struct {
	once  sync.Once
	env   *cel.Env
	err   error
	mu    sync.Mutex
	rules map[int]compiledRule // by index in Set.rules
}

func (cc *compileCache) shape(k shapeKey, base *cel.Env) *shape {
	cc.mu.Lock()
	sh, ok := cc.shapes[k]
	if !ok {
		if cc.shapes == nil {
			cc.shapes = map[shapeKey]*shape{}
		}
		sh = &shape{rules: map[int]compiledRule{}}
		cc.shapes[k] = sh
	}
	cc.mu.Unlock()
	sh.once.Do(func() { sh.env, sh.err = argsEnv(base, k.input) })
	return sh
}

// keepArgsFree keeps c, compiled in the dyn environment, for every shape if
// none of its expressions (variables inlined) refers to args.
func (cc *compileCache) keepArgsFree(i int, c compiledRule) {
	asts := c.asts[:]
	if c.extra != nil {
		asts = append(slices.Clip(asts), c.extra.asts...)
	}
	for _, a := range asts {
		if a == nil {
			continue
		}
		for _, ref := range a.NativeRep().ReferenceMap() {
			if ref.Name == varArgs {
				return
			}
		}
	}
	if !c.loops {
		c.fast = compileFast(c.asts[0], nil) // reads no args: the input type does not matter
	}
	if cc.argsFree == nil {
		cc.argsFree = map[int]compiledRule{}
	}
	cc.argsFree[i] = c
}

func (sh *shape) rule(i int) (compiledRule, bool) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	c, ok := sh.rules[i]
	return c, ok
}

func (sh *shape) keep(i int, c compiledRule) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.rules[i] = c
}

// toolIndex narrows the rules that may cover a tool without matching every
// pattern of every rule: rules whose patterns are all plain names are found by
// name; the others (globs, labels only) are tried on every tool.
type toolIndex struct {
	byName  map[string][]int
	generic []int
}

func newToolIndex(rules []Rule) toolIndex {
	x := toolIndex{byName: map[string][]int{}}
	for i := range rules {
		names, plain := plainNames(rules[i].Tools)
		if !plain {
			x.generic = append(x.generic, i)
			continue
		}
		for _, n := range names {
			if l := x.byName[n]; len(l) == 0 || l[len(l)-1] != i {
				x.byName[n] = append(l, i)
			}
		}
	}
	return x
}

// plainNames reports whether every pattern is a plain name (no '*', '?' or
// '\'), which covers exactly the tool of that name.
func plainNames(pats []string) ([]string, bool) {
	if len(pats) == 0 {
		return nil, false
	}
	for _, p := range pats {
		if strings.ContainsAny(p, `*?\`) {
			return nil, false
		}
	}
	return pats, true
}

// candidates returns, in rule order, the indexes of the rules that may cover
// a tool named name; [Rule.Covers] still decides.
func (x *toolIndex) candidates(name string) []int {
	named := x.byName[name]
	if len(named) == 0 {
		return x.generic
	}
	if len(x.generic) == 0 {
		return named
	}
	out := make([]int, 0, len(named)+len(x.generic))
	out = append(append(out, named...), x.generic...)
	slices.Sort(out)
	return out
}

// parseCache keeps what NewSet parsed, so that compiling a rule for another
// shape only checks it: parsing is most of a compile, and it does not depend
// on the shape (every environment extends the Set's base one, with its parser
// options). A checked expression is rewritten in place by the checker, so
// each use gets a fresh tree, converted back from the parsed form. Filled
// while NewSet checks the rules, read-only once the Set is built.
type parseCache struct {
	frozen bool
	m      map[string]func() *cel.Ast
}

func (pc *parseCache) parse(env *cel.Env, expr string) (*cel.Ast, *cel.Issues) {
	if pc == nil {
		return env.Parse(expr)
	}
	if fresh, ok := pc.m[expr]; ok {
		return fresh(), nil
	}
	a, iss := env.Parse(expr)
	if iss.Err() == nil && !pc.frozen {
		if pe, err := cel.AstToParsedExpr(a); err == nil {
			if pc.m == nil {
				pc.m = map[string]func() *cel.Ast{}
			}
			pc.m[expr] = func() *cel.Ast { return cel.ParsedExprToAstWithSource(pe, common.NewTextSource(expr)) }
		}
	}
	return a, iss
}
