package policy

import (
	"fmt"
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
	// tool-name globs ("tickets.*", "*": see [MatchTool]; tool names are not
	// paths, so "*" covers "fs/delete"). A rule with no tools covers no tool.
	Tools []string
	// Labels, when set, narrow the rule to tools that carry every one of them.
	// A rule may also cover tools by labels alone (Tools empty, Labels set).
	Labels []string
	// When is a CEL expression that must evaluate to a bool; empty means true.
	When string
	// Message is the reason shown when the rule decides a call: a CEL expression
	// that evaluates to a string ("'blocked for ' + identity.sub"), or plain text
	// when it is not CEL (it does not parse, or it names no declared variable:
	// "path traversal is not allowed", "denied"). Empty means a default message.
	Message string
	// Controls are free tags (e.g. "NIST-CSF-PR.AA-05", "OWASP-NHI-02") recorded in
	// every audit event the rule decides.
	Controls []string
	// Mode is Enforce (the default when empty) or Shadow: a shadow rule is
	// evaluated and reported but never changes a decision.
	Mode Mode

	// Obligations of a permit rule, enforced by the guard when the rule allows a
	// call. Forbid rules may not carry them.

	// Scopes are the OAuth scopes a permit rule needs (RFC 6749 §3.3): it
	// permits only a call whose identity holds every one (identity.scopes), in
	// addition to its condition. A call denied only for want of them is a
	// step-up: the decision names the scopes ([Decision.Scopes]), so an HTTP
	// or MCP edge can ask the client for a token that has them without reading
	// any CEL. [Program.MayAllow] ignores scopes, so a tool that needs more is
	// still listed, and a call to it is a step-up rather than a hidden tool.
	Scopes []string

	// Require lists what the call needs besides the permit; "approval" runs the
	// tool only under a valid human approval grant.
	Require []string
	// Redact lists paths in the tool's output to redact before it reaches the
	// model ("customer.email", "attachments[*].content").
	Redact []string
	// Limit rate-limits calls, per subject, agent or tenant.
	Limit *Limit
	// Budget caps a running sum of an expression over a window.
	Budget *Budget
	// AddLabels are labels the output of an allowed call carries, besides the
	// tool's own, recorded in the session before the output reaches the model.
	// Each is a CEL expression of type string or list(string)
	// ("'invoice:' + args.invoice_id"), or plain text when it is not CEL
	// ("private"), as a Message is.
	AddLabels []string

	// Variables are the named expressions the rule may use as variables.NAME, in
	// definition order (a variable may use the ones before it). Rules parsed from
	// one file share that file's variables.
	Variables []Variable

	// Pos is where the rule was defined; WhenPos and MessagePos where its
	// expressions start. Set by [Parse]; zero for rules built in Go.
	Pos, WhenPos, MessagePos Position
}

// Mode says whether a rule decides calls or only reports what it would decide.
type Mode string

// The modes.
const (
	Enforce Mode = "enforce"
	Shadow  Mode = "shadow"
)

// Variable is a named CEL sub-expression, used in rules as variables.NAME (as in
// Kubernetes ValidatingAdmissionPolicy). It is inlined into every expression that
// uses it, so it costs nothing at run time beyond its own evaluation.
type Variable struct {
	Name string
	Expr string
	Pos  Position
}

// Requirement names accepted in [Rule.Require].
const RequireApproval = "approval"

// Covers reports whether r applies to a tool with the given name and labels.
func (r *Rule) Covers(name string, labels []string) bool {
	if r == nil {
		return false
	}
	for _, l := range r.Labels {
		if !slices.Contains(labels, l) {
			return false
		}
	}
	if len(r.Tools) == 0 {
		return len(r.Labels) > 0
	}
	for _, pat := range r.Tools {
		if MatchTool(pat, name) {
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
		if ValidPattern(pat) != nil {
			bad("bad tool pattern %q", pat)
		}
	}
	if r.Mode != "" && r.Mode != Enforce && r.Mode != Shadow {
		bad("mode must be %q or %q, not %q", Enforce, Shadow, r.Mode)
	}
	if r.Effect == Forbid && r.hasObligations() {
		bad("a forbid rule cannot carry obligations (require, redact, limit, budget, add_labels)")
	}
	if r.Effect == Forbid && len(r.Scopes) > 0 {
		bad("a forbid rule cannot carry scopes: write the condition in when")
	}
	for _, sc := range r.Scopes {
		if !ValidScope(sc) {
			bad("scope %q is not an RFC 6749 scope-token", sc)
		}
	}
	for _, req := range r.Require {
		if req != RequireApproval {
			bad("unknown requirement %q (want %q)", req, RequireApproval)
		}
	}
	for _, p := range r.Redact {
		if _, err := ParsePath(p); err != nil {
			bad("redact: %v", err)
		}
	}
	if r.Limit != nil {
		if err := r.Limit.check(); err != nil {
			bad("limit: %v", err)
		}
	}
	if r.Budget != nil {
		if err := r.Budget.check(); err != nil {
			bad("budget: %v", err)
		}
	}
	seen := map[string]bool{}
	for _, v := range r.Variables {
		if !validName(v.Name) {
			bad("variable name %q is not an identifier", v.Name)
		}
		if seen[v.Name] {
			bad("variable %q defined twice", v.Name)
		}
		seen[v.Name] = true
	}
	return errs
}

func (r *Rule) hasObligations() bool {
	return len(r.Require) > 0 || len(r.Redact) > 0 || r.Limit != nil || r.Budget != nil || len(r.AddLabels) > 0
}

// ValidScope reports whether s is an RFC 6749 §3.3 scope-token: one or more
// of the printable ASCII characters other than space, '"' and '\'.
func ValidScope(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// enforced reports whether the rule takes part in decisions.
func (r *Rule) enforced() bool { return r.Mode != Shadow }

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		letter := c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}
