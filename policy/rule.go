package policy

import (
	"fmt"
	"path"
	"slices"
)

// Effect is what a matching rule does to a call.
type Effect string

// The two effects. A call is allowed only if some permit rule matches and no forbid
// rule does.
const (
	Permit Effect = "permit"
	Forbid Effect = "forbid"
)

// Position is where something was defined in a policy file. Line and Col count from
// 1; the zero Position means "defined in Go".
type Position struct {
	File string
	Line int
	Col  int
}

func (p Position) String() string {
	switch {
	case p.File == "" && p.Line == 0:
		return "<go>"
	case p.Line == 0:
		return p.File
	default:
		return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
	}
}

// Rule is one policy rule. Rules are values: build them in Go or load them from
// YAML with [Parse] or [Load].
type Rule struct {
	// ID names the rule in decisions and audit events; unique within a [Set].
	ID string
	// Effect is Permit or Forbid.
	Effect Effect
	// Tools are the tool names the rule covers; each may be a glob in the syntax of
	// path.Match ("tickets.*"). A rule with no tools covers no tool.
	Tools []string
	// Labels, when set, narrow the rule to tools that carry every one of them.
	// A rule may also cover tools by labels alone (Tools empty, Labels set).
	Labels []string
	// When is a CEL expression that must evaluate to a bool; empty means true.
	When string
	// Message is a CEL expression that evaluates to a string, used as the reason
	// when the rule decides a call; empty means a default message.
	Message string
	// Controls are free tags (e.g. "NIST-CSF-PR.AA-05", "OWASP-NHI-02") recorded in
	// every audit event the rule decides.
	Controls []string

	// Pos is where the rule was defined; WhenPos and MessagePos where its
	// expressions start. Set by [Parse]; zero for rules built in Go.
	Pos, WhenPos, MessagePos Position
}

// Covers reports whether r applies to a tool with the given name and labels.
func (r *Rule) Covers(name string, labels []string) bool {
	for _, l := range r.Labels {
		if !slices.Contains(labels, l) {
			return false
		}
	}
	if len(r.Tools) == 0 {
		return len(r.Labels) > 0
	}
	for _, pat := range r.Tools {
		if ok, _ := path.Match(pat, name); ok {
			return true
		}
	}
	return false
}

// check reports what is wrong with r on its own, every problem at once.
func (r *Rule) check() []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, &Error{Pos: r.Pos, Rule: r.ID, Err: ErrInvalid, Msg: fmt.Sprintf(format, args...)})
	}
	if r.ID == "" {
		bad("rule has no id")
	}
	if r.Effect != Permit && r.Effect != Forbid {
		bad("effect must be %q or %q, not %q", Permit, Forbid, r.Effect)
	}
	if len(r.Tools) == 0 && len(r.Labels) == 0 {
		bad("rule covers no tool: set tools or labels")
	}
	for _, pat := range r.Tools {
		if _, err := path.Match(pat, ""); err != nil || pat == "" {
			bad("bad tool pattern %q", pat)
		}
	}
	return errs
}
