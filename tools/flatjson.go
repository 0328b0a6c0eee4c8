package tools

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
)

// flatJSON encodes one struct type of strings, bools and integers exactly as
// encoding/json does, without its per-call reflection walk and buffers: the
// digest of a call's arguments and output is of that encoding, so it is the
// per-type encoder built at NewGuard that every allowed call runs twice. Any
// type it does not reproduce byte for byte — other kinds, embedded fields,
// custom marshalers, the ",string" option, unusual or repeated names — gets
// no flatJSON and keeps encoding/json. FuzzFlatJSON holds the two to the
// same bytes.
type flatJSON struct {
	fields []flatField
}

type flatField struct {
	index     int
	key       []byte // `"name":`, as encoding/json writes it
	kind      reflect.Kind
	omitEmpty bool
}

// newFlatJSON returns the encoder of t, or nil if t is not a struct it
// encodes exactly.
func newFlatJSON(t reflect.Type) *flatJSON {
	if t.Kind() != reflect.Struct || customJSON(t) {
		return nil
	}
	f := &flatJSON{}
	names := map[string]bool{}
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Anonymous {
			return nil
		}
		if !sf.IsExported() {
			continue
		}
		tag := sf.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if name == "" {
			name = sf.Name
		}
		if !plainJSONName(name) || names[name] {
			return nil
		}
		names[name] = true
		omit := false
		for o := range strings.SplitSeq(opts, ",") {
			switch o {
			case "":
			case "omitempty":
				omit = true
			default:
				return nil // ",string", ",omitzero", anything newer: leave it to encoding/json
			}
		}
		switch k := sf.Type.Kind(); {
		case customJSON(sf.Type):
			return nil
		case k == reflect.String || k == reflect.Bool ||
			(k >= reflect.Int && k <= reflect.Int64) || (k >= reflect.Uint && k <= reflect.Uintptr):
			key, _ := json.Marshal(name)
			f.fields = append(f.fields, flatField{index: i, key: append(key, ':'), kind: k, omitEmpty: omit})
		default:
			return nil
		}
	}
	return f
}

// customJSON reports whether t or *t has its own JSON or text encoding.
func customJSON(t reflect.Type) bool {
	pt := reflect.PointerTo(t)
	for _, m := range []reflect.Type{jsonMarshalerType, textMarshalerType} {
		if t.Implements(m) || pt.Implements(m) {
			return true
		}
	}
	return false
}

// plainJSONName reports whether encoding/json takes name as it is and
// writes it without escapes: letters, digits and a few punctuation marks.
func plainJSONName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range name {
		ok := c == '_' || c == '-' || c == '.' || c == '$' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
		if !ok {
			return false
		}
	}
	return true
}

// append appends v's JSON encoding to b.
func (f *flatJSON) append(b []byte, v reflect.Value) []byte {
	b = append(b, '{')
	first := true
	for i := range f.fields {
		fd := &f.fields[i]
		fv := v.Field(fd.index)
		if fd.omitEmpty && fv.IsZero() {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, fd.key...)
		switch {
		case fd.kind == reflect.String:
			b = appendJSONString(b, fv.String())
		case fd.kind == reflect.Bool:
			b = strconv.AppendBool(b, fv.Bool())
		case fd.kind >= reflect.Int && fd.kind <= reflect.Int64:
			b = strconv.AppendInt(b, fv.Int(), 10)
		default:
			b = strconv.AppendUint(b, fv.Uint(), 10)
		}
	}
	return append(b, '}')
}

// appendJSONString appends s as encoding/json writes it: characters that need
// no escape as they are, anything else (quotes, controls, HTML characters,
// non-ASCII, invalid UTF-8) through encoding/json itself.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
