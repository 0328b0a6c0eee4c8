package tools

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/policy"
)

// leaks walks doc loosely for p: keys in any letter case, dotted keys, arrays
// entered at any step. It returns the values it reaches that are neither
// Redacted nor null: what a redaction that passed must leave none of.
func leaks(v any, p policy.Path) []any {
	if len(p) == 0 {
		if v == nil || v == Redacted {
			return nil
		}
		return []any{v}
	}
	var out []any
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			out = append(out, leaks(e, p)...)
		}
	case map[string]any:
		st := p[0]
		for k, c := range x {
			switch {
			case strings.EqualFold(k, st.Field): // an index step's array is entered by the []any case
				out = append(out, leaks(c, p[1:])...)
			case strings.HasPrefix(strings.ToLower(k), strings.ToLower(st.Field)+".") && c != nil:
				out = append(out, c)
			}
		}
	}
	return out
}

// FuzzRedactFailsClosed: for any output shape and any redaction path, either
// the output is withheld (an error) or nothing the path could reach, however
// loosely read, is left in it.
func FuzzRedactFailsClosed(f *testing.F) {
	for _, s := range []struct{ doc, path string }{
		{`[{"email":"a@x"},{"email":"b@x"}]`, "email"},
		{`{"customers":[{"email":"a@x"}]}`, "customers.email"},
		{`{"customers":[{"email":"a@x"}]}`, "customers[*].email"},
		{`{"Email":"a@x"}`, "email"},
		{`{"email":"a@x","EMAIL":"b@x"}`, "email"},
		{`{"user":{"email":"a@x"}}`, "user.email.address"},
		{`{"user.email":"a@x"}`, "user.email"},
		{`{"user":"a@x"}`, "user.email"},
		{`{"a":{"b":[{"c":"x"}]}}`, "a.b[0].c"},
		{`{"a":[1,2]}`, "a.b"},
		{`{"a":null}`, "a.b"},
	} {
		f.Add(s.doc, s.path)
	}
	f.Fuzz(func(t *testing.T, doc, path string) {
		var v any
		if json.Unmarshal([]byte(doc), &v) != nil {
			return
		}
		p, err := policy.ParsePath(path)
		if err != nil {
			return
		}
		out, _, err := rewriteOutput(v, []string{path}, nil)
		if err != nil {
			return
		}
		b, _ := json.Marshal(out)
		var back any
		_ = json.Unmarshal(b, &back)
		if l := leaks(back, p); len(l) > 0 {
			t.Fatalf("redact %q on %s passed %s through: %v", path, doc, b, l)
		}
	})
}
