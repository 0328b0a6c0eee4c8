package policy

import (
	"reflect"
	"strings"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"

	"github.com/modelguard/modelguard/identity"
)

// The fast path evaluates the common shape of a rule condition in Go, without
// cel-go: comparisons of string, int and bool fields with each other and with
// constants, string prefix/suffix/containment, membership in a string list, and
// &&, || and ! over those. In that subset nothing can fail (every field of a
// typed input exists and no operation can overflow or divide), so plain Go
// logic gives exactly CEL's result; anything outside it, or an input of an
// unexpected shape, goes to the cel-go program. FuzzFastPath holds the two to
// the same answers.

// fastBool evaluates a condition; ok is false when the input does not have the
// shape the condition was compiled for, and the caller falls back to cel-go.
type fastBool func(a *activation) (v, ok bool)

type (
	fastString func(a *activation) (string, bool)
	fastInt    func(a *activation) (int64, bool)
	fastList   func(a *activation) ([]string, bool)
)

// compileFast returns the fast form of a checked bool expression, or nil.
func compileFast(a *cel.Ast, args reflect.Type) fastBool {
	if a == nil {
		return nil
	}
	c := fastCompiler{types: a.NativeRep(), args: args}
	return c.boolean(a.NativeRep().Expr())
}

type fastCompiler struct {
	types *ast.AST
	args  reflect.Type
}

func (c *fastCompiler) is(e ast.Expr, t *types.Type) bool {
	return c.types.GetType(e.ID()).IsExactType(t)
}

func (c *fastCompiler) boolean(e ast.Expr) fastBool {
	switch e.Kind() {
	case ast.LiteralKind:
		if b, ok := e.AsLiteral().(types.Bool); ok {
			return func(*activation) (bool, bool) { return bool(b), true }
		}
		return nil
	case ast.SelectKind:
		return c.boolField(e)
	case ast.CallKind:
		return c.call(e.AsCall())
	}
	return nil
}

func (c *fastCompiler) call(call ast.CallExpr) fastBool {
	args := call.Args()
	switch fn := call.FunctionName(); {
	case fn == operators.LogicalNot && len(args) == 1:
		x := c.boolean(args[0])
		if x == nil {
			return nil
		}
		return func(a *activation) (bool, bool) { v, ok := x(a); return !v, ok }
	case (fn == operators.LogicalAnd || fn == operators.LogicalOr) && len(args) == 2:
		return c.logical(fn == operators.LogicalAnd, args[0], args[1])
	case fn == operators.In && len(args) == 2:
		return c.in(args[0], args[1])
	case call.IsMemberFunction() && len(args) == 1 && (fn == "startsWith" || fn == "endsWith" || fn == "contains"):
		return c.stringFunc(fn, call.Target(), args[0])
	case len(args) == 2:
		return c.compare(fn, args[0], args[1])
	}
	return nil
}

func (c *fastCompiler) logical(and bool, l, r ast.Expr) fastBool {
	x, y := c.boolean(l), c.boolean(r)
	if x == nil || y == nil {
		return nil
	}
	if and {
		return func(a *activation) (bool, bool) {
			v, ok := x(a)
			if !ok || !v {
				return false, ok
			}
			return y(a)
		}
	}
	return func(a *activation) (bool, bool) {
		v, ok := x(a)
		if !ok || v {
			return v, ok
		}
		return y(a)
	}
}

func (c *fastCompiler) in(elem, list ast.Expr) fastBool {
	x := c.str(elem)
	l := c.list(list)
	if x == nil || l == nil {
		return nil
	}
	return func(a *activation) (bool, bool) {
		s, ok1 := x(a)
		xs, ok2 := l(a)
		if !ok1 || !ok2 {
			return false, false
		}
		for _, v := range xs {
			if v == s {
				return true, true
			}
		}
		return false, true
	}
}

func (c *fastCompiler) stringFunc(fn string, target, arg ast.Expr) fastBool {
	x, y := c.str(target), c.str(arg)
	if x == nil || y == nil {
		return nil
	}
	op := map[string]func(string, string) bool{"startsWith": strings.HasPrefix, "endsWith": strings.HasSuffix, "contains": strings.Contains}[fn]
	return func(a *activation) (bool, bool) {
		s, ok1 := x(a)
		t, ok2 := y(a)
		return op(s, t), ok1 && ok2
	}
}

func (c *fastCompiler) compare(fn string, l, r ast.Expr) fastBool {
	switch {
	case c.is(l, cel.StringType) && c.is(r, cel.StringType):
		x, y := c.str(l), c.str(r)
		if x == nil || y == nil {
			return nil
		}
		return ordered(fn, func(a *activation) (string, string, bool) {
			s, ok1 := x(a)
			t, ok2 := y(a)
			return s, t, ok1 && ok2
		})
	case c.is(l, cel.IntType) && c.is(r, cel.IntType):
		x, y := c.integer(l), c.integer(r)
		if x == nil || y == nil {
			return nil
		}
		return ordered(fn, func(a *activation) (int64, int64, bool) {
			s, ok1 := x(a)
			t, ok2 := y(a)
			return s, t, ok1 && ok2
		})
	case c.is(l, cel.BoolType) && c.is(r, cel.BoolType) && (fn == operators.Equals || fn == operators.NotEquals):
		x, y := c.boolean(l), c.boolean(r)
		if x == nil || y == nil {
			return nil
		}
		eq := fn == operators.Equals
		return func(a *activation) (bool, bool) {
			s, ok1 := x(a)
			t, ok2 := y(a)
			return (s == t) == eq, ok1 && ok2
		}
	}
	return nil
}

// ordered builds a comparison of two values of an ordered Go type.
func ordered[T string | int64](fn string, operands func(*activation) (T, T, bool)) fastBool {
	var cmp func(x, y T) bool
	switch fn {
	case operators.Equals:
		cmp = func(x, y T) bool { return x == y }
	case operators.NotEquals:
		cmp = func(x, y T) bool { return x != y }
	case operators.Less:
		cmp = func(x, y T) bool { return x < y }
	case operators.LessEquals:
		cmp = func(x, y T) bool { return x <= y }
	case operators.Greater:
		cmp = func(x, y T) bool { return x > y }
	case operators.GreaterEquals:
		cmp = func(x, y T) bool { return x >= y }
	default:
		return nil
	}
	return func(a *activation) (bool, bool) {
		x, y, ok := operands(a)
		return cmp(x, y), ok
	}
}

func (c *fastCompiler) str(e ast.Expr) fastString {
	if !c.is(e, cel.StringType) {
		return nil
	}
	if e.Kind() == ast.LiteralKind {
		s, ok := e.AsLiteral().(types.String)
		if !ok {
			return nil
		}
		return func(*activation) (string, bool) { return string(s), true }
	}
	get := c.field(e, reflect.String)
	if get == nil {
		return nil
	}
	return func(a *activation) (string, bool) {
		v, ok := get(a)
		if !ok {
			return "", false
		}
		return v.String(), true
	}
}

func (c *fastCompiler) integer(e ast.Expr) fastInt {
	if !c.is(e, cel.IntType) {
		return nil
	}
	if e.Kind() == ast.LiteralKind {
		n, ok := e.AsLiteral().(types.Int)
		if !ok {
			return nil
		}
		return func(*activation) (int64, bool) { return int64(n), true }
	}
	get := c.field(e, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64)
	if get == nil {
		return nil
	}
	return func(a *activation) (int64, bool) {
		v, ok := get(a)
		if !ok {
			return 0, false
		}
		return v.Int(), true
	}
}

func (c *fastCompiler) boolField(e ast.Expr) fastBool {
	get := c.field(e, reflect.Bool)
	if get == nil {
		return nil
	}
	return func(a *activation) (bool, bool) {
		v, ok := get(a)
		if !ok {
			return false, false
		}
		return v.Bool(), true
	}
}

func (c *fastCompiler) list(e ast.Expr) fastList {
	if e.Kind() == ast.ListKind {
		var xs []string
		for _, el := range e.AsList().Elements() {
			s, ok := el.AsLiteral().(types.String)
			if el.Kind() != ast.LiteralKind || !ok {
				return nil
			}
			xs = append(xs, string(s))
		}
		if len(e.AsList().OptionalIndices()) > 0 {
			return nil
		}
		return func(*activation) ([]string, bool) { return xs, true }
	}
	get := c.field(e, reflect.Slice)
	if get == nil || c.leaf(e) != reflect.TypeFor[[]string]() || !c.is(e, cel.ListType(cel.StringType)) {
		return nil
	}
	return func(a *activation) ([]string, bool) {
		v, ok := get(a)
		if !ok {
			return nil, false
		}
		return *v.Addr().Interface().(*[]string), true // addressable: every root is reached through a pointer
	}
}

// field compiles a chain of selections from identity, request, tool or args to
// a leaf of one of kinds, through struct fields only (no pointers, maps or
// embedded fields, whose CEL semantics the fast path does not reproduce).
func (c *fastCompiler) field(e ast.Expr, kinds ...reflect.Kind) func(*activation) (reflect.Value, bool) {
	var path []string
	for e.Kind() == ast.SelectKind {
		s := e.AsSelect()
		if s.IsTestOnly() {
			return nil
		}
		path = append([]string{s.FieldName()}, path...)
		e = s.Operand()
	}
	if e.Kind() != ast.IdentKind || len(path) == 0 {
		return nil
	}
	root, rootType, tag := c.root(e.AsIdent())
	if root == nil {
		return nil
	}
	idx, leaf := resolve(rootType, tag, path)
	if idx == nil || !kindIn(leaf.Kind(), kinds) {
		return nil
	}
	return func(a *activation) (reflect.Value, bool) {
		v, ok := root(a)
		if !ok {
			return reflect.Value{}, false
		}
		return v.FieldByIndex(idx), true
	}
}

// leaf is the Go type a selection chain ends in (nil if it is not one).
func (c *fastCompiler) leaf(e ast.Expr) reflect.Type {
	var path []string
	for e.Kind() == ast.SelectKind {
		path = append([]string{e.AsSelect().FieldName()}, path...)
		e = e.AsSelect().Operand()
	}
	if e.Kind() != ast.IdentKind {
		return nil
	}
	_, t, tag := c.root(e.AsIdent())
	if t == nil {
		return nil
	}
	_, leaf := resolve(t, tag, path)
	return leaf
}

// root returns how to get the struct value of a CEL variable, its type, and
// the struct tag its field names come from.
func (c *fastCompiler) root(name string) (func(*activation) (reflect.Value, bool), reflect.Type, string) {
	switch name {
	case varIdentity:
		return func(a *activation) (reflect.Value, bool) {
			if a.identity == nil {
				return reflect.Value{}, false
			}
			return reflect.ValueOf(a.identity).Elem(), true
		}, reflect.TypeFor[identity.Claims](), "cel"
	case varRequest:
		return func(a *activation) (reflect.Value, bool) { return reflect.ValueOf(&a.request).Elem(), true },
			reflect.TypeFor[Request](), "cel"
	case varTool:
		return func(a *activation) (reflect.Value, bool) { return reflect.ValueOf(a.tool).Elem(), true },
			reflect.TypeFor[toolInfo](), "cel"
	case varArgs:
		t := c.args
		if t == nil {
			return nil, nil, ""
		}
		if t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || t.Name() == "" { // as argsType: unnamed structs are dyn to CEL
			return nil, nil, ""
		}
		ptr := reflect.PointerTo(t)
		return func(a *activation) (reflect.Value, bool) {
			v := reflect.ValueOf(a.args)
			if !v.IsValid() || v.Type() != ptr || v.IsNil() {
				return reflect.Value{}, false // not the *In the guard passes: let cel-go decide
			}
			return v.Elem(), true
		}, t, "json"
	}
	return nil, nil, ""
}

// resolve finds the struct field index path for CEL field names under tag.
func resolve(t reflect.Type, tag string, path []string) ([]int, reflect.Type) {
	var idx []int
	for _, name := range path {
		if t.Kind() != reflect.Struct {
			return nil, nil
		}
		f, ok := fieldByCELName(t, tag, name)
		if !ok {
			return nil, nil
		}
		idx = append(idx, f.Index[0])
		t = f.Type
	}
	return idx, t
}

func fieldByCELName(t reflect.Type, tag, name string) (reflect.StructField, bool) {
	var found reflect.StructField
	n := 0
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous || !f.IsExported() {
			if f.Anonymous {
				return reflect.StructField{}, false // promoted fields: leave to cel-go
			}
			continue
		}
		fname := f.Name
		if v, ok := f.Tag.Lookup(tag); ok {
			v, _, _ = strings.Cut(v, ",")
			if v == "-" {
				continue
			}
			if v != "" {
				fname = v
			}
		}
		if fname == name {
			found, n = f, n+1
		}
	}
	return found, n == 1
}

func kindIn(k reflect.Kind, kinds []reflect.Kind) bool {
	for _, x := range kinds {
		if k == x {
			return true
		}
	}
	return false
}
