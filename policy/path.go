package policy

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/modelguard/modelguard/internal/jsonfields"
)

// Path is a parsed redaction path: field names separated by dots, each optionally
// followed by [*] (every element) or [N] (one element), as in
// "customer.email" or "attachments[*].content". A path may begin with an index
// when the output itself is an array: "[*].email" (its first Step then has an
// empty Field).
type Path []Step

// Step is one field of a [Path] and, optionally, an index into it.
type Step struct {
	Field string
	// Index is the element to enter after Field: AllElements for [*], NoIndex when
	// the step has no brackets, otherwise N.
	Index int
}

// Index values of a [Step].
const (
	NoIndex     = -1
	AllElements = -2
)

// ParsePath parses a redaction path.
func ParsePath(s string) (Path, error) {
	if s == "" {
		return nil, fmt.Errorf("empty path")
	}
	var p Path
	for seg := range strings.SplitSeq(s, ".") {
		st, err := parseStep(seg, len(p) == 0)
		if err != nil {
			return nil, fmt.Errorf("path %q: %w", s, err)
		}
		p = append(p, st)
	}
	return p, nil
}

// parseStep parses one dot-separated segment; only the first may be an index
// alone (the output itself is the array).
func parseStep(seg string, first bool) (Step, error) {
	name, rest, hasIdx := strings.Cut(seg, "[")
	if name == "" && !(first && hasIdx) {
		return Step{}, fmt.Errorf("empty field name in %q", seg)
	}
	if strings.ContainsAny(name, "]* ") {
		return Step{}, fmt.Errorf("bad field name %q", name)
	}
	if !hasIdx {
		return Step{Field: name, Index: NoIndex}, nil
	}
	idx, ok := strings.CutSuffix(rest, "]")
	if !ok {
		return Step{}, fmt.Errorf("unclosed [ in %q", seg)
	}
	if strings.Contains(idx, "[") || strings.Contains(idx, "]") {
		return Step{}, fmt.Errorf("bad index %q in %q", idx, seg)
	}
	if idx == "*" {
		return Step{Field: name, Index: AllElements}, nil
	}
	n, err := strconv.Atoi(idx)
	if err != nil || n < 0 {
		return Step{}, fmt.Errorf("bad index %q in %q", idx, seg)
	}
	return Step{Field: name, Index: n}, nil
}

func (p Path) String() string {
	var b strings.Builder
	for i, st := range p {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(st.Field)
		switch st.Index {
		case NoIndex:
		case AllElements:
			b.WriteString("[*]")
		default:
			fmt.Fprintf(&b, "[%d]", st.Index)
		}
	}
	return b.String()
}

// CheckOutputPath reports whether path can select something in the JSON form
// of a value of type t (encoding/json's member names, as
// [internal/jsonfields] resolves them): a field step needs a struct with that
// member or a map, an index step a slice or an array. Where the form is not
// known until run time (an interface, a type with its own MarshalJSON), the
// rest of the path is accepted here and checked against the value at run time,
// where a mismatch withholds the output.
func CheckOutputPath(t reflect.Type, path string) error {
	p, err := ParsePath(path)
	if err != nil {
		return err
	}
	for i, st := range p {
		if st.Field != "" {
			if t, err = outputStep(t, st.Field); err != nil || t == nil {
				return err
			}
		}
		if st.Index != NoIndex {
			if t = derefDynamic(t); t == nil {
				return nil
			}
			switch {
			case t.Kind() == reflect.Array || (t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Uint8):
				// encoding/json writes a []byte as a base64 string, a [N]byte
				// as an array of numbers.
				t = t.Elem()
			default:
				return fmt.Errorf("%s is %v, not an array", Path(p[:i+1]), t)
			}
		}
	}
	return nil
}

var (
	jsonMarshalerType = reflect.TypeFor[json.Marshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
)

// derefDynamic follows pointers; it returns nil where the JSON form is known
// only at run time.
func derefDynamic(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		if t.Implements(jsonMarshalerType) {
			return nil
		}
		t = t.Elem()
	}
	if t.Kind() == reflect.Interface || t.Implements(jsonMarshalerType) || reflect.PointerTo(t).Implements(jsonMarshalerType) {
		return nil
	}
	return t
}

func outputStep(t reflect.Type, field string) (reflect.Type, error) {
	if t = derefDynamic(t); t == nil {
		return nil, nil
	}
	if t.Implements(textMarshalerType) || reflect.PointerTo(t).Implements(textMarshalerType) {
		return nil, fmt.Errorf("%q: %v is a string in JSON, not an object", field, t)
	}
	switch t.Kind() {
	case reflect.Struct:
		f, ok := jsonfields.Of(t)[field]
		if !ok {
			return nil, fmt.Errorf("%v has no member %q (names are matched exactly)", t, field)
		}
		return f.Type, nil
	case reflect.Map:
		return t.Elem(), nil
	}
	return nil, fmt.Errorf("%q: %v is not an object", field, t)
}
