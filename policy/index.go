package policy

import (
	"reflect"
	"slices"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
)

// The equality index lets a program with many rules of the shape
// `identity.agent == "billing-bot" && …` (one rule per agent, per tenant, …)
// decide a call by evaluating only the rules whose constant equals the call's
// claim, as OPA indexes rules on equality. It is exact: CEL's && is false
// whenever one operand is false, whatever the others do (even an error), so a
// rule with a conjunct `identity.F == "c"` does not match, cannot fail and has
// no effect on a decision when the claim is not c; and a string field of the
// verified identity always has a value. FuzzEqualityIndex holds indexed and
// unindexed programs to the same decisions.

// minIndexed is how many rules must test one field before it is indexed:
// below it, evaluating them all costs less than the lookup.
const minIndexed = 8

// eqIndex is one indexed field: how to read it, and the rules (indexes into
// Program.rules, ascending) by the constant they compare it to.
type eqIndex struct {
	get     fastString
	byValue map[string][]int32
}

// buildIndex indexes p's rules on the equality conjunct of their conditions
// that most rules share a field with; the rest stay in p.plain.
func (p *Program) buildIndex() {
	type key struct{ field, value string }
	byField := map[string][]int{}
	conj := make([]key, len(p.rules))
	gets := map[string]fastString{}
	for i := range p.rules {
		c := &p.rules[i]
		if c.loops {
			continue
		}
		field, value, get := equalityConjunct(c.asts[0], p.tool.Input)
		if get == nil {
			continue
		}
		conj[i] = key{field, value}
		byField[field] = append(byField[field], i)
		gets[field] = get
	}
	indexed := make([]bool, len(p.rules))
	fields := make([]string, 0, len(byField))
	for f := range byField {
		fields = append(fields, f)
	}
	slices.Sort(fields) // the same index whatever the map's order
	for _, f := range fields {
		rules := byField[f]
		n := 0
		for _, i := range rules {
			if !indexed[i] {
				n++
			}
		}
		if n < minIndexed {
			continue
		}
		x := eqIndex{get: gets[f], byValue: map[string][]int32{}}
		for _, i := range rules {
			if !indexed[i] {
				indexed[i] = true
				x.byValue[conj[i].value] = append(x.byValue[conj[i].value], int32(i))
			}
		}
		p.eq = append(p.eq, x)
	}
	if len(p.eq) == 0 {
		return
	}
	for i := range p.rules {
		if !indexed[i] {
			p.plain = append(p.plain, int32(i))
		}
	}
}

// candidates appends to buf, in rule order, the rules a call must evaluate:
// the unindexed ones and the indexed ones whose constant is the call's claim.
// ok is false when p has no index (or a claim cannot be read): evaluate all.
func (p *Program) candidates(act *activation, buf []int32) ([]int32, bool) {
	if len(p.eq) == 0 {
		return nil, false
	}
	out := append(buf, p.plain...)
	sources := 0
	if len(p.plain) > 0 {
		sources++
	}
	for i := range p.eq {
		v, ok := p.eq[i].get(act)
		if !ok {
			return nil, false
		}
		if l := p.eq[i].byValue[v]; len(l) > 0 {
			out = append(out, l...)
			sources++
		}
	}
	if sources > 1 {
		slices.Sort(out)
	}
	return out, true
}

// equalityConjunct finds in a checked condition a top-level conjunct
// `identity.F == "c"` (either way round) over a string field reached through
// struct fields, and returns the field's path, c, and how to read the field.
func equalityConjunct(a *cel.Ast, args reflect.Type) (string, string, fastString) {
	if a == nil {
		return "", "", nil
	}
	fc := fastCompiler{types: a.NativeRep(), args: args}
	for _, e := range conjuncts(a.NativeRep().Expr(), nil) {
		if e.Kind() != ast.CallKind {
			continue
		}
		call := e.AsCall()
		xs := call.Args()
		if call.FunctionName() != operators.Equals || len(xs) != 2 {
			continue
		}
		for _, lr := range [2][2]ast.Expr{{xs[0], xs[1]}, {xs[1], xs[0]}} {
			field, lit := lr[0], lr[1]
			s, ok := lit.AsLiteral().(types.String)
			if lit.Kind() != ast.LiteralKind || !ok || !fc.is(field, cel.StringType) {
				continue
			}
			path, root := selectPath(field)
			if root != varIdentity {
				continue
			}
			if get := fc.str(field); get != nil {
				return path, string(s), get
			}
		}
	}
	return "", "", nil
}

// conjuncts flattens a chain of && into its operands.
func conjuncts(e ast.Expr, out []ast.Expr) []ast.Expr {
	if e.Kind() == ast.CallKind {
		call := e.AsCall()
		if call.FunctionName() == operators.LogicalAnd && len(call.Args()) == 2 {
			return conjuncts(call.Args()[1], conjuncts(call.Args()[0], out))
		}
	}
	return append(out, e)
}

// selectPath is the dotted path of a chain of field selections and its root
// variable ("", "" if e is not one).
func selectPath(e ast.Expr) (string, string) {
	var path []string
	for e.Kind() == ast.SelectKind && !e.AsSelect().IsTestOnly() {
		path = append(path, e.AsSelect().FieldName())
		e = e.AsSelect().Operand()
	}
	if e.Kind() != ast.IdentKind || len(path) == 0 {
		return "", ""
	}
	path = append(path, e.AsIdent())
	slices.Reverse(path)
	return strings.Join(path, "."), e.AsIdent()
}
