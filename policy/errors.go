package policy

import (
	"errors"
	"strings"
)

// Sentinel errors. Every error from this package wraps one of them; test with
// errors.Is.
var (
	// ErrSyntax: a policy file is not valid YAML of the expected shape, or an
	// expression does not parse.
	ErrSyntax = errors.New("policy: syntax error")
	// ErrInvalid: a rule is structurally wrong (no id, duplicate id, bad effect,
	// bad tool pattern, unknown field).
	ErrInvalid = errors.New("policy: invalid rule")
	// ErrType: an expression does not type-check against the tool it covers
	// (misspelled field, wrong result type).
	ErrType = errors.New("policy: type error")
	// ErrCost: an expression's estimated cost exceeds the budget.
	ErrCost = errors.New("policy: cost budget exceeded")
	// ErrEval: an expression failed at run time (error, non-bool result, cost
	// limit, cancelled context). The rule counts as a matching forbid.
	ErrEval = errors.New("policy: evaluation failed")
)

// Error is one problem with a policy, located as precisely as is known.
type Error struct {
	Pos  Position // where; zero when unknown
	Rule string   // rule id, if any
	Tool string   // tool name, for type errors and evaluation errors
	Err  error    // one of the sentinels
	Msg  string   // what is wrong
}

func (e *Error) Error() string {
	if e == nil {
		return "policy: error"
	}
	var b strings.Builder
	if e.Pos != (Position{}) {
		b.WriteString(e.Pos.String())
		b.WriteString(": ")
	}
	if e.Rule != "" {
		b.WriteString("rule ")
		b.WriteString(e.Rule)
		b.WriteString(": ")
	}
	if e.Tool != "" {
		b.WriteString("tool ")
		b.WriteString(e.Tool)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error {
	if e == nil {
		return nil
	}
	return e.Err
}
