package policy

import (
	"fmt"
	"strconv"
	"strings"
)

// Path is a parsed redaction path: field names separated by dots, each optionally
// followed by [*] (every element) or [N] (one element), as in
// "customer.email" or "attachments[*].content".
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
		st, err := parseStep(seg)
		if err != nil {
			return nil, fmt.Errorf("path %q: %w", s, err)
		}
		p = append(p, st)
	}
	return p, nil
}

func parseStep(seg string) (Step, error) {
	name, rest, hasIdx := strings.Cut(seg, "[")
	if name == "" {
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
