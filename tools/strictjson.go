package tools

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/modelguard/modelguard/internal/jsonfields"
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
	var fields map[string]jsonfields.Field
	var keys map[any]string // for a map whose keys are not its member names
	if t != nil && t.Kind() == reflect.Struct {
		fields = jsonfields.Of(t)
	}
	if t != nil && t.Kind() == reflect.Map && (t.Key().Kind() != reflect.String || reflect.PointerTo(t.Key()).Implements(textUnmarshalerType)) {
		keys = map[any]string{}
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
			f, ok := fields[name]
			if !ok {
				return unknownMember(name, fields, at)
			}
			if f.Quoted {
				if err := checkQuoted(dec, f.Type, at+"."+name); err != nil {
					return err
				}
				continue
			}
			ft = f.Type
		case t != nil && t.Kind() == reflect.Map:
			ft = t.Elem()
			if keys != nil {
				k, err := mapKey(t.Key(), name)
				if err != nil {
					return fmt.Errorf("member %q in %s is not a key of %s: %v", name, orRoot(at), t.Key(), err)
				}
				if prev, dup := keys[k]; dup {
					return fmt.Errorf("members %q and %q in %s are the same key", prev, name, orRoot(at))
				}
				keys[k] = name
			}
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

func unknownMember(name string, fields map[string]jsonfields.Field, at string) error {
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

// checkQuoted checks the value of a ",string" field: a JSON string whose
// content is itself JSON text, decoded a second time. The outer string may
// hide what the first pass refuses (an escaped lone surrogate, an integer no
// float holds), so its content is checked as arguments of its own.
func checkQuoted(dec *json.Decoder, t reflect.Type, at string) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	inner, ok := tok.(string)
	if !ok {
		return nil // not a string: the decoder refuses it
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if inner == "null" {
		return nil
	}
	if err := checkSurrogates([]byte(inner)); err != nil {
		return fmt.Errorf("%s: %w", orRoot(at), err)
	}
	if t.Kind() != reflect.String {
		return checkNumber(json.Number(inner), t, at)
	}
	return nil
}

// mapKey is the key encoding/json stores member name under in a map with key
// type kt (its decode in encoding/json/decode.go, object): a
// TextUnmarshaler's value, the name itself for string kinds, the parsed
// integer otherwise. Two member names with one key ("1" and "01", "+1") are
// duplicates: the decoder keeps the last.
func mapKey(kt reflect.Type, name string) (key any, err error) {
	defer func() {
		if r := recover(); r != nil {
			key, err = nil, fmt.Errorf("map key %q: its UnmarshalText panicked", name)
		}
	}()
	switch {
	case reflect.PointerTo(kt).Implements(textUnmarshalerType):
		kv := reflect.New(kt)
		if err := kv.Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(name)); err != nil {
			return nil, err
		}
		if !kv.Elem().Comparable() {
			// A key that holds an uncomparable value (a slice behind an
			// interface field) cannot be a Go map key here: keep the name.
			return name, nil
		}
		return kv.Elem().Interface(), nil
	case kt.Kind() == reflect.String:
		return name, nil
	case kt.Kind() >= reflect.Int && kt.Kind() <= reflect.Int64:
		n, err := strconv.ParseInt(name, 10, 64)
		return n, err
	case kt.Kind() >= reflect.Uint && kt.Kind() <= reflect.Uintptr:
		n, err := strconv.ParseUint(name, 10, 64)
		return n, err
	}
	return name, nil
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
