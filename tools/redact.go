package tools

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/modelguard/modelguard/policy"
)

// Redacted replaces a redacted string value in an output.
const Redacted = "[REDACTED]"

// ErrRedaction: an output could not be redacted or scrubbed; it is withheld.
var ErrRedaction = errors.New("tools: output could not be redacted")

// rewriteOutput redacts paths in out and scrubs secret values from every string
// in it, working on out's JSON form: the form a model receives. It returns the
// rewritten output and the paths that matched something.
func rewriteOutput[Out any](out Out, paths []string, sec *secrets) (Out, []string, error) {
	b, err := json.Marshal(out)
	if err != nil {
		return out, nil, fmt.Errorf("%w: encode: %v", ErrRedaction, err)
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // numbers keep their exact text, so a numeric secret is seen
	if err := dec.Decode(&doc); err != nil {
		return out, nil, fmt.Errorf("%w: decode: %v", ErrRedaction, err)
	}
	var hit []string
	for _, p := range paths {
		pp, err := policy.ParsePath(p)
		if err != nil {
			return out, nil, fmt.Errorf("%w: %v", ErrRedaction, err)
		}
		var matched bool
		if doc, matched, err = redactPath(doc, pp); err != nil {
			return out, nil, fmt.Errorf("%w: path %q: %v", ErrRedaction, p, err)
		}
		if matched {
			hit = append(hit, p)
		}
	}
	changed := len(hit) > 0
	if sec.n() > 0 {
		var c bool
		doc, c = scrubStrings(doc, sec)
		changed = changed || c
	}
	if !changed && sec.n() == 0 {
		return out, nil, nil
	}
	// With secrets injected the output is always rebuilt from its JSON form, so
	// that nothing the JSON does not show (unexported fields) can carry one back.
	if b, err = json.Marshal(doc); err != nil {
		return out, nil, fmt.Errorf("%w: encode: %v", ErrRedaction, err)
	}
	var clean Out
	if err := json.Unmarshal(b, &clean); err != nil {
		return out, nil, fmt.Errorf("%w: the output type does not take redacted values: %v", ErrRedaction, err)
	}
	return clean, hit, nil
}

// redactPath replaces what p selects in v: strings with Redacted, anything else
// with null. It fails closed: a path whose shape does not match what the output
// holds (an object step where an array or a scalar is, an index where an object
// is, a key present only in another letter case, or as a dotted key of a map)
// is an error, and the output is withheld. Only a key that is absent (an
// omitted field) or a null on the way (a nil pointer) matches nothing.
func redactPath(v any, p policy.Path) (any, bool, error) {
	if len(p) == 0 {
		if _, ok := v.(string); ok {
			return Redacted, true, nil
		}
		return nil, true, nil
	}
	if v == nil {
		return nil, false, nil
	}
	if p[0].Field == "" { // a leading index: v itself is the array
		return redactElements(v, v, p, "the output")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return v, false, fmt.Errorf("path step %q expects an object, the output holds %s", p[0].Field, jsonKind(v))
	}
	st := p[0]
	for k := range obj {
		if k != st.Field && (strings.EqualFold(k, st.Field) || strings.HasPrefix(strings.ToLower(k), strings.ToLower(st.Field)+".")) {
			return v, false, fmt.Errorf("path step %q does not match the output's key %q", st.Field, k)
		}
	}
	child, ok := obj[st.Field]
	if !ok {
		return v, false, nil
	}
	if st.Index == policy.NoIndex {
		nv, m, err := redactPath(child, p[1:])
		obj[st.Field] = nv
		return obj, m, err
	}
	if child == nil {
		return obj, false, nil
	}
	if _, m, err := redactElements(v, child, p, strconv.Quote(st.Field)); err != nil || !m {
		return v, false, err
	}
	return obj, true, nil
}

// redactElements applies the rest of p to the elements of arr that p[0]'s
// index selects, in place; v is what is returned unchanged on failure.
func redactElements(v, child any, p policy.Path, what string) (any, bool, error) {
	arr, ok := child.([]any)
	if !ok {
		return v, false, fmt.Errorf("path step %s expects an array, the output holds %s", what, jsonKind(child))
	}
	matched := false
	for i := range arr {
		if p[0].Index == policy.AllElements || p[0].Index == i {
			var m bool
			var err error
			if arr[i], m, err = redactPath(arr[i], p[1:]); err != nil {
				return v, false, err
			}
			matched = matched || m
		}
	}
	return v, matched, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case float64, json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "null"
}

// scrubStrings replaces secret values in every string of v, keys included.
func scrubStrings(v any, sec *secrets) (any, bool) {
	switch x := v.(type) {
	case string:
		return sec.scrub(x)
	case json.Number: // a secret returned as a number becomes a string: the typed output then refuses it and is withheld
		if s, c := sec.scrub(string(x)); c {
			return s, true
		}
		return x, false
	case []any:
		changed := false
		for i := range x {
			var c bool
			x[i], c = scrubStrings(x[i], sec)
			changed = changed || c
		}
		return x, changed
	case map[string]any:
		changed := false
		out := make(map[string]any, len(x))
		for k, val := range x {
			nk, c1 := sec.scrub(k)
			nv, c2 := scrubStrings(val, sec)
			out[nk] = nv
			changed = changed || c1 || c2
		}
		return out, changed
	}
	return v, false
}
