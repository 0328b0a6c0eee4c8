package tools

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"reflect"
	"strings"
	"sync"
	"unicode/utf8"
)

// Strict JSON for model arguments. encoding/json is lenient where a guard must
// not be: it takes the last of duplicate member names (a proxy or an upstream
// validator that reads the first sees other arguments than the policy does),
// matches member names to fields case-insensitively and with Unicode case
// folding ("Amount_Cents", "ſ" for "s"), and replaces invalid UTF-8 and lone
// surrogates with U+FFFD (so "acct-\xff" and "acct-\xfe" become the same
// string). checkStrict refuses all of these before anything is decoded, so the
// one reading of the bytes is the only one possible.

// checkStrict reports why args are not strict JSON for a value of type t: not
// valid UTF-8, an escaped lone surrogate, a duplicate member name, a member name
// that is not exactly a field's JSON name, or data after the value.
func checkStrict(args []byte, t reflect.Type) error {
	if !utf8.Valid(args) {
		return errors.New("arguments are not valid UTF-8")
	}
	if err := checkSurrogates(args); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.UseNumber()
	if err := checkValue(dec, t, ""); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after the arguments")
	}
	return nil
}

var (
	unmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	anyType         = reflect.TypeFor[any]()
)

// checkNumber refuses an integer that a value of type t (a float, or an
// interface, which decodes numbers as float64) cannot hold exactly: readers
// that keep integers exact (many do) would see another number than the policy
// (9007199254740993 is 9007199254740992 as a float64). RFC 7493 (I-JSON) §2.2
// and RFC 8259 §6 name exactly this limit of interoperability. Numbers with a
// fraction or an exponent are read as binary floating point by every common
// reader and are left to the decoder.
func checkNumber(n json.Number, t reflect.Type, at string) error {
	if t == nil || strings.ContainsAny(string(n), ".eE") || len(n) < 8 {
		return nil // |n| < 10^7 < 2^24: exact in any float
	}
	k := t.Kind()
	if k != reflect.Float64 && k != reflect.Float32 && k != reflect.Interface {
		return nil // an integer field: decoded exactly, or refused by the decoder
	}
	exact := false
	if len(n) <= 320 { // longer is over 10^318, past any float (and big.Int parsing is superlinear)
		var i big.Int
		if _, ok := i.SetString(string(n), 10); !ok {
			return nil // not an integer literal: the decoder reports it
		}
		f := new(big.Float).SetInt(&i)
		var acc big.Accuracy
		if k == reflect.Float32 {
			_, acc = f.Float32()
		} else {
			_, acc = f.Float64()
		}
		exact = acc == big.Exact
	}
	if !exact {
		name := "float64"
		if k == reflect.Float32 {
			name = "float32"
		}
		return fmt.Errorf("the integer %.40s in %s cannot be held exactly by the %s it decodes to (RFC 7493 §2.2)", n, orRoot(at), name)
	}
	return nil
}

// checkValue reads one JSON value from dec, checking member names against t
// (nil: any names, still no duplicates).
func checkValue(dec *json.Decoder, t reflect.Type, at string) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t != nil && (reflect.PointerTo(t).Implements(unmarshalerType) || t.Implements(unmarshalerType)) {
		t = nil // the type reads its own JSON: only syntax, UTF-8 and duplicates are checked
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if n, ok := tok.(json.Number); ok {
		return checkNumber(n, t, at)
	}
	switch tok {
	case json.Delim('{'):
		return checkObject(dec, t, at)
	case json.Delim('['):
		var elem reflect.Type
		switch {
		case t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array):
			elem = t.Elem()
		case t != nil && t.Kind() == reflect.Interface:
			elem = anyType // decoded as []any: its numbers become float64
		}
		for i := 0; dec.More(); i++ {
			if t != nil && t.Kind() == reflect.Array && i >= t.Len() {
				return fmt.Errorf("%s holds more than %d elements", orRoot(at), t.Len())
			}
			if err := checkValue(dec, elem, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
		_, err = dec.Token()
		return err
	}
	return nil
}

func checkObject(dec *json.Decoder, t reflect.Type, at string) error {
	seen := map[string]bool{}
	var fields map[string]reflect.Type
	if t != nil && t.Kind() == reflect.Struct {
		fields = jsonFields(t)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name := tok.(string)
		if seen[name] {
			return fmt.Errorf("duplicate member %q in %s", name, orRoot(at))
		}
		seen[name] = true
		var ft reflect.Type
		switch {
		case fields != nil:
			var ok bool
			if ft, ok = fields[name]; !ok {
				return unknownMember(name, fields, at)
			}
		case t != nil && t.Kind() == reflect.Map:
			ft = t.Elem()
		case t != nil && t.Kind() == reflect.Interface:
			ft = anyType // decoded as map[string]any
		}
		if err := checkValue(dec, ft, at+"."+name); err != nil {
			return err
		}
	}
	_, err := dec.Token()
	return err
}

func unknownMember(name string, fields map[string]reflect.Type, at string) error {
	for f := range fields {
		if strings.EqualFold(f, name) {
			return fmt.Errorf("member %q in %s is not the field name %q (names are matched exactly)", name, orRoot(at), f)
		}
	}
	return fmt.Errorf("unknown member %q in %s", name, orRoot(at))
}

func orRoot(at string) string {
	if at == "" {
		return "the arguments"
	}
	return strings.TrimPrefix(at, ".")
}

var fieldCache sync.Map // reflect.Type → map[string]reflect.Type

// jsonFields maps the JSON names encoding/json gives t's fields (tags,
// embedded structs promoted) to their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	m := map[string]reflect.Type{}
	for _, f := range reflect.VisibleFields(t) {
		tag, hasTag := f.Tag.Lookup("json")
		name, _, _ := strings.Cut(tag, ",")
		switch {
		case name == "-" && tag == "-":
			continue
		case f.Anonymous && !hasTag && underlyingStruct(f.Type):
			continue // its fields are promoted and visited on their own
		case !f.IsExported() && !f.Anonymous:
			continue
		case name == "":
			name = f.Name
		}
		if _, dup := m[name]; !dup || len(f.Index) == 1 {
			m[name] = f.Type
		}
	}
	fieldCache.Store(t, m)
	return m
}

func underlyingStruct(t reflect.Type) bool {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.Kind() == reflect.Struct
}

// checkSurrogates refuses \u escapes of UTF-16 surrogates that do not form a
// pair: encoding/json decodes each to U+FFFD, so distinct inputs would decode
// to the same string.
func checkSurrogates(b []byte) error {
	for i := 0; i+1 < len(b); i++ {
		if b[i] != '\\' {
			continue
		}
		if b[i+1] != 'u' {
			i++ // \" \\ and the like: skip the escaped character
			continue
		}
		r, ok := hex4(b, i+2)
		switch {
		case !ok:
			return nil // not a valid escape: the decoder reports it
		case r >= 0xD800 && r < 0xDC00: // high surrogate: a low one must follow
			lo, ok := hex4(b, i+8)
			if i+7 >= len(b) || b[i+6] != '\\' || b[i+7] != 'u' || !ok || lo < 0xDC00 || lo > 0xDFFF {
				return errors.New("arguments hold an unpaired UTF-16 surrogate escape")
			}
			i += 11
		case r >= 0xDC00 && r <= 0xDFFF:
			return errors.New("arguments hold an unpaired UTF-16 surrogate escape")
		default:
			i += 5
		}
	}
	return nil
}

func hex4(b []byte, at int) (rune, bool) {
	if at+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[at : at+4] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
