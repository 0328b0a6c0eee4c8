// Package jsonfields resolves the member names of a Go struct's JSON form by
// encoding/json's own rules, for the checks that must agree with it exactly:
// strict argument decoding (tools) and redaction paths (policy).
package jsonfields

import (
	"reflect"
	"strings"
	"sync"
	"unicode"
)

var cache sync.Map // reflect.Type → map[string]Field

// Field is what one member name of a struct's JSON form is: the Go field's
// type, and whether it carries the ",string" option (its value is JSON text
// inside a JSON string, decoded twice).
type Field struct {
	Type   reflect.Type
	Quoted bool
}

// Of maps the member names encoding/json decodes t (a struct type) from,
// and encodes it to, to their fields. It follows encoding/json's own rules (typeFields and dominantField
// in encoding/json/encode.go) exactly, so that a member this check lets through
// is one the decoder stores, and a member the decoder would silently drop (a
// name two embedded fields tie for, a field a tagged embedded struct hides) is
// refused as unknown:
//   - fields are visited breadth first through embedded structs (and pointers
//     to them); a tagged embedded struct is one named field, not promoted;
//   - unexported fields are skipped, but an unexported embedded struct's
//     exported fields are promoted; json:"-" is skipped;
//   - a tag name with characters encoding/json does not accept is ignored;
//   - of fields sharing a name, the shallowest wins; at equal depth a tagged
//     field beats untagged ones; two equally good fields hide each other;
//   - a struct type embedded twice at one depth promotes nothing.
func Of(t reflect.Type) map[string]Field {
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	if m, ok := cache.Load(t); ok {
		return m.(map[string]Field)
	}
	type field struct {
		name   string
		tagged bool
		depth  int
		typ    reflect.Type
		quoted bool
	}
	type level struct {
		typ   reflect.Type
		depth int
	}
	var fields []field
	next := []level{{typ: t}}
	var count, nextCount map[reflect.Type]int
	visited := map[reflect.Type]bool{}
	for len(next) > 0 {
		current := next
		next = nil
		count, nextCount = nextCount, map[reflect.Type]int{}
		for _, f := range current {
			if visited[f.typ] {
				continue
			}
			visited[f.typ] = true
			for i := range f.typ.NumField() {
				sf := f.typ.Field(i)
				if sf.Anonymous {
					et := sf.Type
					if et.Kind() == reflect.Pointer {
						et = et.Elem()
					}
					if !sf.IsExported() && et.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				if !validTagName(name) {
					name = ""
				}
				ft := sf.Type
				if ft.Name() == "" && ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if name != "" || !sf.Anonymous || ft.Kind() != reflect.Struct {
					quoted := false
					if hasOption(opts, "string") {
						switch ft.Kind() {
						case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
							reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
							reflect.Float32, reflect.Float64, reflect.String:
							quoted = true
						}
					}
					nf := field{name: name, tagged: name != "", depth: f.depth + 1, typ: sf.Type, quoted: quoted}
					if nf.name == "" {
						nf.name = sf.Name
					}
					fields = append(fields, nf)
					if count[f.typ] > 1 {
						// The enclosing struct is embedded twice at this depth:
						// its fields tie with themselves and are dropped.
						fields = append(fields, nf)
					}
					continue
				}
				nextCount[ft]++
				if nextCount[ft] == 1 {
					next = append(next, level{typ: ft, depth: f.depth + 1})
				}
			}
		}
	}
	byName := map[string][]field{}
	for _, f := range fields {
		byName[f.name] = append(byName[f.name], f)
	}
	m := map[string]Field{}
	for name, fs := range byName {
		best := -1
		tie := false
		for i, f := range fs {
			switch {
			case best < 0 || f.depth < fs[best].depth || (f.depth == fs[best].depth && f.tagged && !fs[best].tagged):
				best, tie = i, false
			case f.depth == fs[best].depth && f.tagged == fs[best].tagged:
				tie = true
			}
		}
		if !tie {
			m[name] = Field{Type: fs[best].typ, Quoted: fs[best].quoted}
		}
	}
	cache.Store(t, m)
	return m
}

// validTagName is encoding/json's isValidTag: a tag name it does not accept is
// ignored, and the Go field name is used.
func validTagName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}

func hasOption(opts, want string) bool {
	for opts != "" {
		var o string
		o, opts, _ = strings.Cut(opts, ",")
		if o == want {
			return true
		}
	}
	return false
}
