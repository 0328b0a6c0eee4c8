package policy

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// MaxFileSize bounds a policy file; larger input is rejected before parsing.
const MaxFileSize = 1 << 20

// Parse reads the rules of one YAML policy document. name is used in positions
// (usually the file path). Every problem found is reported, joined, each naming
// name:line:col and the rule; the rules are returned only if there is none.
//
// The document is a mapping with a "rules" list, an optional "variables" list
// ({name, expression}) shared by its rules, and an optional "mode" (enforce or
// shadow) for rules that set none. Each rule has the keys id, effect, mode, tools,
// labels, when, message, controls, require, redact, limit ({rate, burst, per}),
// budget ({expr, max, window, per}) and add_labels. Unknown keys are errors, so a misspelled
// key is never silently ignored.
func Parse(name string, data []byte) ([]Rule, error) {
	if len(data) > MaxFileSize {
		return nil, &Error{Pos: Position{File: name}, Err: ErrSyntax, Msg: fmt.Sprintf("file is %d bytes, over the %d byte limit", len(data), MaxFileSize)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &Error{Pos: Position{File: name}, Err: ErrSyntax, Msg: err.Error()}
	}
	p := parser{file: name, lines: bytes.Split(data, []byte("\n"))}
	rules := p.document(&doc)
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	return rules, nil
}

// Load parses the policy files at paths and combines their rules into one [Set].
func Load(opts Options, paths ...string) (*Set, error) {
	return readAll(paths).load(opts, paths)
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > MaxFileSize {
		return nil, &Error{Pos: Position{File: path}, Err: ErrSyntax, Msg: fmt.Sprintf("file is %d bytes, over the %d byte limit", fi.Size(), MaxFileSize)}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return data, nil
}

type parser struct {
	file  string
	lines [][]byte
	errs  []error
}

func (p *parser) pos(n *yaml.Node) Position {
	return Position{File: p.file, Line: n.Line, Col: n.Column}
}

func (p *parser) fail(n *yaml.Node, rule, format string, args ...any) {
	p.errs = append(p.errs, &Error{Pos: p.pos(n), Rule: rule, Err: ErrSyntax, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) document(doc *yaml.Node) []Rule {
	if doc.Kind == 0 || len(doc.Content) == 0 {
		p.fail(doc, "", "empty policy document")
		return nil
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		p.fail(top, "", "policy document must be a mapping with a rules list")
		return nil
	}
	var rules []Rule
	var vars []Variable
	var mode Mode
	seen := false
	p.eachKey(top, "", func(k, v *yaml.Node) {
		switch k.Value {
		case "rules":
			seen = true
			rules = p.rules(v)
		case "variables":
			vars = p.variables(v)
		case "mode":
			mode = Mode(p.str(v, ""))
			if mode != Enforce && mode != Shadow {
				p.fail(v, "", "mode must be %q or %q, not %q", Enforce, Shadow, mode)
			}
		default:
			p.fail(k, "", "unknown key %q (want rules, variables, mode)", k.Value)
		}
	})
	if !seen {
		p.fail(top, "", "policy document has no rules list")
	}
	for i := range rules {
		rules[i].Variables = vars
		if rules[i].Mode == "" {
			rules[i].Mode = mode
		}
	}
	return rules
}

func (p *parser) rules(n *yaml.Node) []Rule {
	if n.Kind != yaml.SequenceNode {
		p.fail(n, "", "rules must be a list")
		return nil
	}
	rules := make([]Rule, 0, len(n.Content))
	for _, item := range n.Content {
		rules = append(rules, p.rule(item))
	}
	return rules
}

func (p *parser) variables(n *yaml.Node) []Variable {
	if n.Kind != yaml.SequenceNode {
		p.fail(n, "", "variables must be a list of {name, expression}")
		return nil
	}
	vars := make([]Variable, 0, len(n.Content))
	for _, item := range n.Content {
		if item.Kind != yaml.MappingNode {
			p.fail(item, "", "a variable must be a mapping with name and expression")
			continue
		}
		v := Variable{Pos: p.pos(item)}
		p.eachKey(item, "", func(k, val *yaml.Node) {
			switch k.Value {
			case "name":
				v.Name = p.str(val, "")
			case "expression":
				v.Expr, v.Pos = p.str(val, ""), p.exprPos(val)
			default:
				p.fail(k, "", "unknown key %q in variable (want name, expression)", k.Value)
			}
		})
		if v.Name == "" || v.Expr == "" {
			p.fail(item, "", "a variable needs a name and an expression")
		}
		vars = append(vars, v)
	}
	return vars
}

func (p *parser) rule(n *yaml.Node) Rule {
	r := Rule{Pos: p.pos(n)}
	if n.Kind != yaml.MappingNode {
		p.fail(n, "", "rule must be a mapping")
		return r
	}
	if id := findKey(n, "id"); id != nil {
		r.ID = p.str(id, "")
	}
	p.eachKey(n, r.ID, func(k, v *yaml.Node) {
		switch k.Value {
		case "id":
		case "effect":
			r.Effect = Effect(p.str(v, r.ID))
		case "mode":
			r.Mode = Mode(p.str(v, r.ID))
		case "tools":
			r.Tools = p.strs(v, r.ID)
		case "labels":
			r.Labels = p.strs(v, r.ID)
		case "when":
			r.When, r.WhenPos = p.str(v, r.ID), p.exprPos(v)
			if v.Tag == "!!null" || strings.TrimSpace(r.When) == "" {
				// A template that rendered nothing must not become "always":
				// only an absent when means true.
				p.fail(v, r.ID, "when is present but empty: write a condition, or remove when to cover every call")
			}
		case "message":
			r.Message, r.MessagePos = p.str(v, r.ID), p.exprPos(v)
		case "controls":
			r.Controls = p.strs(v, r.ID)
		case "scopes":
			r.Scopes = p.strs(v, r.ID)
		case "require":
			r.Require = p.strs(v, r.ID)
		case "redact":
			r.Redact = p.strs(v, r.ID)
		case "limit":
			r.Limit = p.limit(v, r.ID)
		case "budget":
			r.Budget = p.budget(v, r.ID)
		case "add_labels":
			r.AddLabels = p.strs(v, r.ID)
		default:
			p.fail(k, r.ID, "unknown key %q", k.Value)
		}
	})
	return r
}

func (p *parser) limit(n *yaml.Node, rule string) *Limit {
	l := &Limit{}
	if n.Kind != yaml.MappingNode {
		p.fail(n, rule, "limit must be a mapping {rate, burst, per}")
		return l
	}
	p.eachKey(n, rule, func(k, v *yaml.Node) {
		switch k.Value {
		case "rate":
			r, err := ParseRate(p.str(v, rule))
			if err != nil {
				p.fail(v, rule, "%v", err)
			}
			l.Rate = r
		case "burst":
			l.Burst = p.int(v, rule)
		case "per":
			l.Per = Key(p.str(v, rule))
		default:
			p.fail(k, rule, "unknown key %q in limit (want rate, burst, per)", k.Value)
		}
	})
	return l
}

func (p *parser) budget(n *yaml.Node, rule string) *Budget {
	b := &Budget{}
	if n.Kind != yaml.MappingNode {
		p.fail(n, rule, "budget must be a mapping {expr, max, window, per}")
		return b
	}
	p.eachKey(n, rule, func(k, v *yaml.Node) {
		switch k.Value {
		case "expr":
			b.Expr, b.Pos = p.str(v, rule), p.exprPos(v)
		case "max":
			f, err := strconv.ParseFloat(p.str(v, rule), 64)
			if err != nil {
				p.fail(v, rule, "max must be a number")
			}
			b.Max = f
		case "window":
			d, err := time.ParseDuration(p.str(v, rule))
			if err != nil {
				p.fail(v, rule, "window must be a duration such as 24h: %v", err)
			}
			b.Window = d
		case "per":
			b.Per = Key(p.str(v, rule))
		default:
			p.fail(k, rule, "unknown key %q in budget (want expr, max, window, per)", k.Value)
		}
	})
	return b
}

func (p *parser) int(n *yaml.Node, rule string) int {
	i, err := strconv.Atoi(p.str(n, rule))
	if err != nil {
		p.fail(n, rule, "want an integer")
	}
	return i
}

// exprPos is where the text of an expression scalar begins: past the opening
// quote, or on the line after a block scalar's indicator.
func (p *parser) exprPos(n *yaml.Node) Position {
	pos := p.pos(n)
	switch n.Style {
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		pos.Col++
	case yaml.LiteralStyle, yaml.FoldedStyle:
		pos.Line++
		pos.Col = 1
		if pos.Line-1 < len(p.lines) {
			line := p.lines[pos.Line-1]
			pos.Col += len(line) - len(bytes.TrimLeft(line, " \t"))
		}
	}
	return pos
}

func (p *parser) str(n *yaml.Node, rule string) string {
	if n.Kind != yaml.ScalarNode {
		p.fail(n, rule, "want a string")
		return ""
	}
	return n.Value
}

func (p *parser) strs(n *yaml.Node, rule string) []string {
	if n.Kind == yaml.ScalarNode {
		return []string{n.Value}
	}
	if n.Kind != yaml.SequenceNode {
		p.fail(n, rule, "want a list of strings")
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for _, c := range n.Content {
		out = append(out, p.str(c, rule))
	}
	return out
}

// eachKey calls fn for each key of mapping m, rejecting duplicate keys.
func (p *parser) eachKey(m *yaml.Node, rule string, fn func(k, v *yaml.Node)) {
	seen := make(map[string]bool, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if seen[k.Value] {
			p.fail(k, rule, "duplicate key %q", k.Value)
			continue
		}
		seen[k.Value] = true
		fn(k, m.Content[i+1])
	}
}

func findKey(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}
