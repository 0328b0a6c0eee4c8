package access

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// lineEdit replaces lines [from, to] (1-based, inclusive) with text; from > to
// inserts before from.
type lineEdit struct {
	from, to int
	text     []string
}

// rewrite returns the policy document data with the tools of the rules in narrow
// replaced and the rules in drop removed, editing only their lines so that the
// rest of the file (comments, layout) is kept as written.
func rewrite(data []byte, narrow map[string][]string, drop map[string]bool) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	lines := strings.Split(string(data), "\n")
	seq, next := rulesNode(&doc, len(lines))
	if seq == nil {
		return nil, fmt.Errorf("no rules list")
	}
	var edits []lineEdit
	for i, item := range seq.Content {
		id := scalar(findValue(item, "id"))
		end := next
		if i+1 < len(seq.Content) {
			end = seq.Content[i+1].Line
		}
		switch {
		case drop[id]:
			edits = append(edits, dropEdit(lines, item.Line, end))
		case narrow[id] != nil:
			e, err := toolsEdit(lines, item, narrow[id])
			if err != nil {
				return nil, fmt.Errorf("rule %s: %w", id, err)
			}
			edits = append(edits, e)
		}
	}
	slices.SortFunc(edits, func(a, b lineEdit) int { return b.from - a.from })
	for _, e := range edits {
		lines = slices.Replace(lines, e.from-1, e.to, e.text...)
	}
	return []byte(strings.Join(lines, "\n")), nil
}

// rulesNode returns the rules sequence and the line where what follows it
// starts (the next top-level key, or one past the last line).
func rulesNode(doc *yaml.Node, nlines int) (*yaml.Node, int) {
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, 0
	}
	top := doc.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value != "rules" || top.Content[i+1].Kind != yaml.SequenceNode {
			continue
		}
		next := nlines + 1
		if i+2 < len(top.Content) {
			next = top.Content[i+2].Line
		}
		return top.Content[i+1], next
	}
	return nil, 0
}

func findValue(m *yaml.Node, key string) *yaml.Node {
	if m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func scalar(n *yaml.Node) string {
	if n == nil {
		return ""
	}
	return n.Value
}

// dropEdit removes the rule that starts on line start and ends before line end,
// with the comment lines just above it, and without the blank or comment lines
// at its end (they introduce what follows).
func dropEdit(lines []string, start, end int) lineEdit {
	last := end - 1
	for last > start && isTrivia(lines[last-1]) {
		last--
	}
	first := start
	for first > 1 && strings.HasPrefix(strings.TrimSpace(lines[first-2]), "#") {
		first--
	}
	// One blank line of the two around the rule goes with it.
	if first > 1 && strings.TrimSpace(lines[first-2]) == "" && (last >= len(lines) || strings.TrimSpace(lines[last]) == "") {
		first--
	}
	return lineEdit{from: first, to: last}
}

func isTrivia(l string) bool {
	t := strings.TrimSpace(l)
	return t == "" || strings.HasPrefix(t, "#")
}

// toolsEdit replaces the value of a rule's tools key with names, in flow style.
func toolsEdit(lines []string, item *yaml.Node, names []string) (lineEdit, error) {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = strconv.Quote(n)
	}
	flow := "[" + strings.Join(quoted, ", ") + "]"
	v := findValue(item, "tools")
	switch {
	case v == nil && item.Style&yaml.FlowStyle == 0:
		id := findKey(item, "id")
		if id == nil {
			return lineEdit{}, fmt.Errorf("no id key")
		}
		indent := strings.Repeat(" ", id.Column-1)
		return lineEdit{from: id.Line + 1, to: id.Line, text: []string{indent + "tools: " + flow}}, nil
	case v == nil:
		return lineEdit{}, fmt.Errorf("a rule written as a flow mapping without tools cannot be rewritten")
	case v.Kind != yaml.SequenceNode:
		return lineEdit{}, fmt.Errorf("tools is not a list")
	case v.Style&yaml.FlowStyle != 0 || len(v.Content) == 0:
		return flowEdit(lines, v, flow)
	}
	// A block list: its items' lines become one flow list on the key's line.
	key := findKey(item, "tools")
	first, last := v.Content[0].Line, v.Content[len(v.Content)-1].Line
	if key == nil || key.Line >= first {
		return lineEdit{}, fmt.Errorf("unexpected layout of tools")
	}
	head := []rune(lines[key.Line-1])
	return lineEdit{from: key.Line, to: last, text: []string{string(head[:key.Column-1]) + "tools: " + flow}}, nil
}

func findKey(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i]
		}
	}
	return nil
}

// flowEdit replaces a flow sequence that starts at v with text.
func flowEdit(lines []string, v *yaml.Node, text string) (lineEdit, error) {
	line, col := v.Line, v.Column-1
	var quote rune
	for ; line <= len(lines); line, col = line+1, 0 {
		rs := []rune(lines[line-1])
		for ; col < len(rs); col++ {
			switch c := rs[col]; {
			case quote != 0 && c == '\\' && quote == '"':
				col++
			case quote != 0 && c == quote:
				quote = 0
			case quote != 0:
			case c == '"' || c == '\'':
				quote = c
			case c == ']':
				head := []rune(lines[v.Line-1])[:v.Column-1]
				return lineEdit{from: v.Line, to: line, text: []string{string(head) + text + string(rs[col+1:])}}, nil
			}
		}
	}
	return lineEdit{}, fmt.Errorf("unterminated flow list")
}
