package tools

import (
	"reflect"
	"unicode/utf8"
)

// Invalid UTF-8 in Go arguments. encoding/json writes every invalid byte of a
// string as U+FFFD, so "acct-\xff" and "acct-\xfe" would encode, digest and be
// decided the same, and a single-use grant approved for one would pay the
// other. A guard therefore refuses arguments holding a string (a map key, a
// field, an element, a value behind an interface) that is not valid UTF-8. The
// check is built once per input type at NewGuard: a type that cannot hold a
// string pays nothing, and one that can walks only where strings can be.

// utf8Checker returns a function reporting whether every string reachable in a
// value of type t is valid UTF-8, or nil when t can hold no string.
func utf8Checker(t reflect.Type) func(reflect.Value, int) bool {
	return checkerFor(t, map[reflect.Type]bool{})
}

func checkerFor(t reflect.Type, visiting map[reflect.Type]bool) func(reflect.Value, int) bool {
	if visiting[t] {
		return validDynamic // a recursive type: walk it as it comes
	}
	visiting[t] = true
	defer delete(visiting, t)
	switch t.Kind() {
	case reflect.String:
		return func(v reflect.Value, _ int) bool { return utf8.ValidString(v.String()) }
	case reflect.Interface:
		return validDynamic
	case reflect.Pointer:
		elem := checkerFor(t.Elem(), visiting)
		if elem == nil {
			return nil
		}
		return func(v reflect.Value, d int) bool { return d < maxDepth && (v.IsNil() || elem(v.Elem(), d+1)) }
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil // bytes encode as base64: any content is distinct
		}
		elem := checkerFor(t.Elem(), visiting)
		if elem == nil {
			return nil
		}
		return func(v reflect.Value, d int) bool {
			if d >= maxDepth {
				return false
			}
			for i := range v.Len() {
				if !elem(v.Index(i), d+1) {
					return false
				}
			}
			return true
		}
	case reflect.Map:
		key, elem := checkerFor(t.Key(), visiting), checkerFor(t.Elem(), visiting)
		if key == nil && elem == nil {
			return nil
		}
		return func(v reflect.Value, d int) bool {
			if d >= maxDepth {
				return false
			}
			for it := v.MapRange(); it.Next(); {
				if (key != nil && !key(it.Key(), d+1)) || (elem != nil && !elem(it.Value(), d+1)) {
					return false
				}
			}
			return true
		}
	case reflect.Struct:
		type field struct {
			i     int
			check func(reflect.Value, int) bool
		}
		var fields []field
		for i := range t.NumField() {
			if sf := t.Field(i); !sf.IsExported() && !sf.Anonymous {
				continue // encoding/json does not see it
			}
			if c := checkerFor(t.Field(i).Type, visiting); c != nil {
				fields = append(fields, field{i, c})
			}
		}
		if len(fields) == 0 {
			return nil
		}
		return func(v reflect.Value, d int) bool {
			if d >= maxDepth {
				return false
			}
			for _, f := range fields {
				if !f.check(v.Field(f.i), d+1) {
					return false
				}
			}
			return true
		}
	}
	return nil
}

// validDynamic checks a value whose type is known only at run time.
func validDynamic(v reflect.Value, d int) bool {
	if d >= maxDepth {
		return false
	}
	if v.Kind() == reflect.Interface {
		if v.IsNil() {
			return true
		}
		v = v.Elem()
	}
	c := utf8Checker(v.Type())
	return c == nil || c(v, d+1)
}

// maxDepth bounds the walk: a cyclic value (a slice holding itself, a pointer
// loop) or one nested deeper than this is refused, not walked until the stack
// runs out, which no recover could catch.
const maxDepth = 1000
