package access

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

//go:embed controls.yaml
var defaultMapping []byte

// MaxMappingSize bounds a mapping file.
const MaxMappingSize = 1 << 20

// Control is one framework item a control tag stands for.
type Control struct {
	Tag       string   `json:"tag" yaml:"tag"`
	Aliases   []string `json:"aliases,omitempty" yaml:"aliases"`
	Framework string   `json:"framework" yaml:"framework"`
	ID        string   `json:"id" yaml:"id"`
	Title     string   `json:"title" yaml:"title"`
}

// Mapping maps control tags to framework items. Build it with [DefaultMapping]
// and extend it with [Mapping.Extend]; the zero value maps nothing.
type Mapping struct {
	controls []Control
}

// DefaultMapping returns the mapping shipped with modelguard (controls.yaml in
// this package): OWASP Top 10 for Agentic Applications 2026 (ASI01–ASI10),
// OWASP NHI Top 10 (NHI1–NHI10) and NIST CSF 2.0 subcategories.
func DefaultMapping() *Mapping {
	m, err := ParseMapping(defaultMapping)
	if err != nil {
		panic("access: the embedded controls.yaml does not parse: " + err.Error()) // a build defect, caught by its test
	}
	return m
}

// ParseMapping reads a mapping file: a "controls" list of {tag, aliases,
// framework, id, title}. Unknown keys, a missing tag, framework or id, and
// input over [MaxMappingSize] are errors wrapping [ErrInput].
func ParseMapping(data []byte) (*Mapping, error) {
	if len(data) > MaxMappingSize {
		return nil, fmt.Errorf("%w: mapping is %d bytes, over the %d byte limit", ErrInput, len(data), MaxMappingSize)
	}
	var doc struct {
		Controls []Control `yaml:"controls"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("%w: mapping: %v", ErrInput, err)
	}
	for i, c := range doc.Controls {
		if c.Tag == "" || c.Framework == "" || c.ID == "" {
			return nil, fmt.Errorf("%w: mapping: control %d needs tag, framework and id", ErrInput, i+1)
		}
	}
	return &Mapping{controls: doc.Controls}, nil
}

// Extend returns m with the controls of more; more's entries for a tag
// replace m's entries for that tag.
func (m *Mapping) Extend(more *Mapping) *Mapping {
	out := &Mapping{}
	if more == nil {
		more = &Mapping{}
	}
	if m != nil {
		for _, c := range m.controls {
			if !slices.ContainsFunc(more.controls, func(x Control) bool { return x.Tag == c.Tag }) {
				out.controls = append(out.controls, c)
			}
		}
	}
	out.controls = append(out.controls, more.controls...)
	return out
}

// Lookup returns the framework items tag stands for, by tag or alias
// (case-insensitive).
func (m *Mapping) Lookup(tag string) []Control {
	if m == nil {
		return nil
	}
	var out []Control
	for _, c := range m.controls {
		if strings.EqualFold(c.Tag, tag) || slices.ContainsFunc(c.Aliases, func(a string) bool { return strings.EqualFold(a, tag) }) {
			out = append(out, c)
		}
	}
	return out
}

// Controls returns a copy of the mapping's controls, in order.
func (m *Mapping) Controls() []Control {
	if m == nil {
		return nil
	}
	return slices.Clone(m.controls)
}

// DefaultMappingYAML returns the text of the built-in mapping file, as a
// starting point for one's own.
func DefaultMappingYAML() string { return string(defaultMapping) }
