package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/modelguard/modelguard/identity"
)

// Case is one policy test: a call and the decision expected for it. Test files
// are YAML documents with a "cases" list:
//
//	cases:
//	  - name: support bot reads a ticket
//	    tool: tickets.get
//	    identity: {sub: "model:support-1", agent: support-bot, scope: "tickets:read"}
//	    args: {id: T-1}
//	    expect: {allow: true, rules: [support-tickets-read]}
//
// The same shape without expect is the input of `modelguard policy explain`.
type Case struct {
	Name     string         `json:"name"`
	Tool     string         `json:"tool"`
	Labels   []string       `json:"labels,omitempty"`
	Identity map[string]any `json:"identity"`
	Args     any            `json:"args,omitempty"`
	Request  CaseRequest    `json:"request"`
	// Session and History are the session's and the principal's history
	// (see [CaseHistory]); unset means empty.
	Session *CaseHistory `json:"session,omitempty"`
	History *CaseHistory `json:"history,omitempty"`
	Expect  *Expect      `json:"expect,omitempty"`
	Pos     Position     `json:"-"`
}

// CaseRequest is the request part of a [Case].
type CaseRequest struct {
	Time    time.Time `json:"time"`
	Session string    `json:"session"`
	Prompt  string    `json:"prompt"`
	Trace   string    `json:"trace"`
	Call    string    `json:"call"`
}

// Expect is what a [Case] expects. Unset fields are not checked.
type Expect struct {
	Allow     *bool    `json:"allow"`
	Rules     []string `json:"rules"`
	Messages  []string `json:"messages"`
	Approval  *bool    `json:"approval"`
	Redact    []string `json:"redact"`
	Limits    []string `json:"limits"`  // ids of the rules whose limits apply
	Budgets   []string `json:"budgets"` // ids of the rules whose budgets apply
	Labels    []string `json:"labels"`  // the labels the output would carry (add_labels)
	WouldFlip *bool    `json:"would_flip"`
}

// ParseCases reads the cases of one YAML test document; unknown keys are errors.
func ParseCases(name string, data []byte) ([]Case, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &Error{Pos: Position{File: name}, Err: ErrSyntax, Msg: err.Error()}
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, &Error{Pos: Position{File: name}, Err: ErrSyntax, Msg: "test file must be a mapping with a cases list"}
	}
	items := findKey(doc.Content[0], "cases")
	if items == nil || items.Kind != yaml.SequenceNode {
		return nil, &Error{Pos: Position{File: name, Line: doc.Content[0].Line, Col: doc.Content[0].Column}, Err: ErrSyntax, Msg: "test file has no cases list"}
	}
	var cases []Case
	var errs []error
	for _, item := range items.Content {
		c, err := parseCase(name, item)
		errs = append(errs, err)
		cases = append(cases, c)
	}
	return cases, errors.Join(errs...)
}

// parseCase decodes one case through JSON, so that numbers and maps have the
// types a JSON token or argument would have.
func parseCase(name string, n *yaml.Node) (Case, error) {
	pos := Position{File: name, Line: n.Line, Col: n.Column}
	var v any
	if err := n.Decode(&v); err != nil {
		return Case{Pos: pos}, &Error{Pos: pos, Err: ErrSyntax, Msg: err.Error()}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return Case{Pos: pos}, &Error{Pos: pos, Err: ErrSyntax, Msg: err.Error()}
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var c Case
	if err := dec.Decode(&c); err != nil {
		return Case{Pos: pos}, &Error{Pos: pos, Err: ErrSyntax, Msg: "case: " + err.Error()}
	}
	c.Pos = pos
	if c.Name == "" || c.Tool == "" {
		return c, &Error{Pos: pos, Err: ErrSyntax, Msg: "a case needs a name and a tool"}
	}
	return c, nil
}

// Input builds the decision input of c. tools, if it has c's tool, gives the Go
// type the arguments are decoded into (so rules are checked as the guard checks
// them) and the tool's labels; otherwise arguments stay dynamic.
func (c *Case) Input(tools []Tool) (Tool, Input, error) {
	if c == nil {
		return Tool{}, Input{}, errors.New("policy: nil Case")
	}
	t := Tool{Name: c.Tool, Labels: c.Labels}
	if i := slices.IndexFunc(tools, func(t Tool) bool { return t.Name == c.Tool }); i >= 0 {
		t = tools[i]
	}
	claims, err := identity.UnsafeClaimsFromMap(c.Identity)
	if err != nil {
		return t, Input{}, err
	}
	in := Input{Identity: claims, Args: c.Args, Request: Request{Time: c.Request.Time, SessionID: c.Request.Session,
		PromptID: c.Request.Prompt, TraceID: c.Request.Trace, CallID: c.Request.Call}}
	if in.Session, err = c.Session.history(c.Request.Time); err != nil {
		return t, in, fmt.Errorf("session %w", err)
	}
	if in.Principal, err = c.History.history(c.Request.Time); err != nil {
		return t, in, fmt.Errorf("principal %w", err)
	}
	if t.Input != nil {
		b, _ := json.Marshal(c.Args)
		v := reflect.New(t.Input)
		if err := json.Unmarshal(b, v.Interface()); err != nil {
			return t, in, fmt.Errorf("args do not decode into %v: %w", t.Input, err)
		}
		in.Args = v.Interface()
	}
	return t, in, nil
}

// CaseResult is the outcome of one [Case].
type CaseResult struct {
	Case     Case
	Decision Decision
	Failures []string // empty when the case passed
}

// Passed reports whether the decision met every expectation.
func (r *CaseResult) Passed() bool {
	if r == nil {
		return false
	}
	return len(r.Failures) == 0
}

// Report is the outcome of [Set.Test].
type Report struct {
	Results []CaseResult
	// Coverage counts, per rule id, the cases in which the rule matched.
	Coverage map[string]int
}

// Failed returns the results that did not pass.
func (r *Report) Failed() []CaseResult {
	if r == nil {
		return nil
	}
	var out []CaseResult
	for _, res := range r.Results {
		if !res.Passed() {
			out = append(out, res)
		}
	}
	return out
}

// Uncovered returns the ids of rules that no case exercised, sorted.
func (r *Report) Uncovered() []string {
	if r == nil {
		return nil
	}
	var out []string
	for id, n := range r.Coverage {
		if n == 0 {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// Test decides every case with the set and compares the decisions with the
// expectations. tools supplies input types and labels (see [Case.Input]).
func (s *Set) Test(ctx context.Context, cases []Case, tools []Tool) Report {
	if err := s.Ready(); err != nil {
		return Report{Coverage: map[string]int{}}
	}
	rep := Report{Coverage: make(map[string]int, len(s.rules))}
	for _, r := range s.rules {
		rep.Coverage[r.ID] = 0
	}
	progs := map[string]*Program{}
	for _, c := range cases {
		res := CaseResult{Case: c}
		d, err := s.decideCase(ctx, &c, tools, progs)
		if err != nil {
			res.Failures = []string{err.Error()}
		} else {
			res.Decision = d
			res.Failures = c.Expect.check(d)
			for _, id := range matched(d) {
				rep.Coverage[id]++
			}
		}
		rep.Results = append(rep.Results, res)
	}
	return rep
}

func (s *Set) decideCase(ctx context.Context, c *Case, tools []Tool, progs map[string]*Program) (Decision, error) {
	t, in, err := c.Input(tools)
	if err != nil {
		return Decision{}, err
	}
	key := t.Name + "\x00" + strings.Join(t.Labels, ",")
	p := progs[key]
	if p == nil {
		if p, err = s.Compile(t); err != nil {
			return Decision{}, err
		}
		progs[key] = p
	}
	return p.Decide(ctx, in), nil
}

// matched lists the rules that matched in d: the deciding ones and the shadow
// ones. Permits outvoted by a forbid are not counted.
func matched(d Decision) []string {
	out := slices.Clone(d.Rules)
	for _, sh := range d.Shadow {
		out = append(out, sh.Rule)
	}
	return out
}

func (e *Expect) check(d Decision) []string {
	if e == nil {
		return nil
	}
	var f []string
	fail := func(what string, got, want any) { f = append(f, fmt.Sprintf("%s: got %v, want %v", what, got, want)) }
	if e.Allow != nil && d.Allowed != *e.Allow {
		fail("allow", d.Allowed, *e.Allow)
	}
	if e.Rules != nil && !sameSet(d.Rules, e.Rules) {
		fail("rules", d.Rules, e.Rules)
	}
	if e.Messages != nil && !sameSet(d.Messages, e.Messages) {
		fail("messages", d.Messages, e.Messages)
	}
	o := d.Obligations
	if e.Approval != nil && o.Approval != *e.Approval {
		fail("approval", o.Approval, *e.Approval)
	}
	if e.Redact != nil && !sameSet(o.Redact, e.Redact) {
		fail("redact", o.Redact, e.Redact)
	}
	if e.Limits != nil && !sameSet(ruleIDs(o.Limits, func(l RuleLimit) string { return l.Rule }), e.Limits) {
		fail("limits", o.Limits, e.Limits)
	}
	if e.Budgets != nil && !sameSet(ruleIDs(o.Budgets, func(b RuleBudget) string { return b.Rule }), e.Budgets) {
		fail("budgets", o.Budgets, e.Budgets)
	}
	if e.Labels != nil && !sameSet(o.Labels, e.Labels) {
		fail("labels", o.Labels, e.Labels)
	}
	if e.WouldFlip != nil && d.WouldFlip() != *e.WouldFlip {
		fail("would_flip", d.WouldFlip(), *e.WouldFlip)
	}
	return f
}

func ruleIDs[T any](xs []T, id func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = id(x)
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
