package policy

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Warning is a lint finding: not an error, but most likely a mistake.
type Warning struct {
	Pos  Position
	Rule string
	Msg  string
}

func (w Warning) String() string {
	s := w.Pos.String() + ": "
	if w.Rule != "" {
		s += "rule " + w.Rule + ": "
	}
	return s + w.Msg
}

// Lint checks the set against the tools actually registered and reports rules
// that cover no registered tool, tool globs that match none, permits made
// unreachable by an unconditional forbid, and variables no rule uses.
func (s *Set) Lint(registered []Tool) []Warning {
	if s == nil {
		return nil
	}
	var ws []Warning
	for i := range s.rules {
		r := &s.rules[i]
		ws = append(ws, lintCoverage(r, registered)...)
		if w, ok := s.unreachable(r, registered); ok {
			ws = append(ws, w)
		}
	}
	return append(ws, s.unusedVariables()...)
}

func lintCoverage(r *Rule, registered []Tool) []Warning {
	var ws []Warning
	covers := false
	for _, t := range registered {
		covers = covers || r.Covers(t.Name, t.Labels)
	}
	if !covers {
		ws = append(ws, Warning{Pos: r.Pos, Rule: r.ID, Msg: "covers no registered tool"})
	}
	for _, pat := range r.Tools {
		if !strings.ContainsAny(pat, "*?[") {
			continue
		}
		matched := false
		for _, t := range registered {
			ok := MatchTool(pat, t.Name)
			matched = matched || ok
		}
		if !matched {
			ws = append(ws, Warning{Pos: r.Pos, Rule: r.ID, Msg: fmt.Sprintf("tool glob %q matches no registered tool", pat)})
		}
	}
	return ws
}

// unreachable reports a permit rule every registered tool of which is also
// covered by an enforced forbid rule with no condition.
func (s *Set) unreachable(r *Rule, registered []Tool) (Warning, bool) {
	if r.Effect != Permit || !r.enforced() {
		return Warning{}, false
	}
	var blockers []string
	n := 0
	for _, t := range registered {
		if !r.Covers(t.Name, t.Labels) {
			continue
		}
		n++
		f := s.unconditionalForbid(t)
		if f == "" {
			return Warning{}, false
		}
		blockers = append(blockers, f)
	}
	if n == 0 {
		return Warning{}, false
	}
	return Warning{Pos: r.Pos, Rule: r.ID, Msg: "permit can never apply: unconditional forbid " + strings.Join(unique(blockers), ", ") + " covers every tool it covers"}, true
}

func (s *Set) unconditionalForbid(t Tool) string {
	for i := range s.rules {
		f := &s.rules[i]
		if f.Effect == Forbid && f.enforced() && f.When == "" && f.Covers(t.Name, t.Labels) {
			return f.ID
		}
	}
	return ""
}

func (s *Set) unusedVariables() []Warning {
	var ws []Warning
	seen := map[*Variable]bool{}
	for i := range s.rules {
		r := &s.rules[i]
		for j := range r.Variables {
			v := &r.Variables[j]
			if seen[v] {
				continue
			}
			seen[v] = true
			if !s.usesVariable(v) {
				ws = append(ws, Warning{Pos: v.Pos, Msg: "variable " + v.Name + " is never used"})
			}
		}
	}
	return ws
}

func (s *Set) usesVariable(v *Variable) bool {
	re := regexp.MustCompile(`\bvariables\.` + regexp.QuoteMeta(v.Name) + `\b`)
	for i := range s.rules {
		r := &s.rules[i]
		if !sharesVariable(r, v) {
			continue
		}
		exprs := []string{r.When, r.Message}
		if r.Budget != nil {
			exprs = append(exprs, r.Budget.Expr)
		}
		for _, other := range r.Variables {
			if other.Name != v.Name {
				exprs = append(exprs, other.Expr)
			}
		}
		for _, e := range exprs {
			if re.MatchString(e) {
				return true
			}
		}
	}
	return false
}

func sharesVariable(r *Rule, v *Variable) bool {
	for i := range r.Variables {
		if &r.Variables[i] == v {
			return true
		}
	}
	return false
}

func unique(ss []string) []string {
	var out []string
	for _, s := range ss {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
