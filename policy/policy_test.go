package policy_test

import (
	"context"
	"errors"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
)

type ticketArgs struct {
	ID       string   `json:"id"`
	Priority int      `json:"priority"`
	Tags     []string `json:"tags,omitempty"`
	Customer struct {
		Email string `json:"email"`
	} `json:"customer"`
	Secret string `json:"-"`
}

type paymentArgs struct {
	AmountCents int64  `json:"amount_cents"`
	Payee       string `json:"payee"`
}

const supportPolicy = `
rules:
  - id: tickets-read
    effect: permit
    tools: ["tickets.get", "tickets.search"]
    when: identity.agent == "support-bot" && "tickets:read" in identity.scopes
    controls: [NIST-CSF-PR.AA-05]
  - id: no-attachment-export
    effect: forbid
    tools: ["attachments.export"]
    message: "'attachment export is blocked for ' + identity.sub"
    controls: [OWASP-NHI-02]
  - id: attachments-permit
    effect: permit
    tools: ["attachments.*"]
  - id: payments-small
    effect: permit
    tools: ["payments.initiate"]
    when: args.amount_cents <= 50000
  - id: no-prod
    effect: forbid
    labels: [destructive]
    when: identity.env == "prod"
    message: "'destructive tools are off in ' + identity.env"
`

func mustSet(t testing.TB, src string) *policy.Set {
	t.Helper()
	rules, err := policy.Parse("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	s, err := policy.NewSet(rules, policy.Options{})
	if err != nil {
		t.Fatalf("NewSet: %v", err)
	}
	return s
}

func mustCompile[T any](t testing.TB, s *policy.Set, name string, labels ...string) *policy.Program {
	t.Helper()
	p, err := s.Compile(policy.Tool{Name: name, Labels: labels, Input: reflect.TypeFor[T]()})
	if err != nil {
		t.Fatalf("Compile(%s): %v", name, err)
	}
	return p
}

func supportBot() *identity.Claims {
	return &identity.Claims{Subject: "model:support-1", Agent: "support-bot", Env: "staging",
		Scopes: []string{"tickets:read"}, Expiry: time.Now().Add(time.Minute)}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	s := mustSet(t, supportPolicy)
	other := &identity.Claims{Subject: "model:coder", Agent: "coder", Scopes: []string{"repo:read"}}
	prod := &identity.Claims{Subject: "model:ops", Agent: "ops", Env: "prod"}
	tests := []struct {
		name      string
		tool      string
		labels    []string
		id        *identity.Claims
		args      any
		allowed   bool
		rules     []string
		reason    string
		msg       string
		controls  []string
		evalError bool
	}{
		{name: "permit matches", tool: "tickets.get", id: supportBot(), args: &ticketArgs{ID: "T-1"},
			allowed: true, rules: []string{"tickets-read"}, controls: []string{"NIST-CSF-PR.AA-05"}},
		{name: "permit condition false denies", tool: "tickets.get", id: other, args: &ticketArgs{ID: "T-1"},
			reason: "no rule permits tickets.get: the conditions of the permit rules covering it were false (tickets-read)"},
		{name: "uncovered tool denies by default", tool: "repo.read", id: supportBot(), args: &ticketArgs{},
			reason: "no rule permits repo.read: no permit rule covers it"},
		{name: "forbid wins over permit", tool: "attachments.export", id: supportBot(), args: &ticketArgs{},
			rules: []string{"no-attachment-export"}, msg: "attachment export is blocked for model:support-1",
			controls: []string{"OWASP-NHI-02"}},
		{name: "glob permit", tool: "attachments.list", id: supportBot(), args: &ticketArgs{},
			allowed: true, rules: []string{"attachments-permit"}},
		{name: "typed args under limit", tool: "payments.initiate", id: other, args: &paymentArgs{AmountCents: 50000},
			allowed: true, rules: []string{"payments-small"}},
		{name: "typed args over limit", tool: "payments.initiate", id: other, args: &paymentArgs{AmountCents: 50001},
			reason: "no rule permits payments.initiate: the conditions of the permit rules covering it were false (payments-small)"},
		{name: "label forbid", tool: "attachments.purge", labels: []string{"destructive"}, id: prod, args: &ticketArgs{},
			rules: []string{"no-prod"}, msg: "destructive tools are off in prod"},
		{name: "nil identity denies", tool: "attachments.list", id: nil, args: &ticketArgs{},
			reason: "no verified identity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var p *policy.Program
			if _, ok := tt.args.(*paymentArgs); ok {
				p = mustCompile[paymentArgs](t, s, tt.tool, tt.labels...)
			} else {
				p = mustCompile[ticketArgs](t, s, tt.tool, tt.labels...)
			}
			d := p.Decide(context.Background(), policy.Input{Identity: tt.id, Args: tt.args})
			if d.Allowed != tt.allowed {
				t.Fatalf("Allowed = %v, want %v (%+v)", d.Allowed, tt.allowed, d)
			}
			if !slices.Equal(d.Rules, tt.rules) {
				t.Errorf("Rules = %q, want %q", d.Rules, tt.rules)
			}
			if tt.reason != "" && !slices.Contains(d.Reasons, tt.reason) {
				t.Errorf("Reasons = %q, want %q among them", d.Reasons, tt.reason)
			}
			if tt.msg != "" && !slices.Equal(d.Messages, []string{tt.msg}) {
				t.Errorf("Messages = %q, want [%q]", d.Messages, tt.msg)
			}
			if tt.msg != "" && (len(d.Reasons) != 1 || !strings.Contains(d.Reasons[0], tt.msg) || !strings.Contains(d.Reasons[0], d.Rules[0])) {
				t.Errorf("Reasons = %q, want the rule id and message", d.Reasons)
			}
			if !slices.Equal(d.Controls, tt.controls) {
				t.Errorf("Controls = %q, want %q", d.Controls, tt.controls)
			}
			if d.Version != s.Version() || !strings.HasPrefix(d.Version, "sha256:") {
				t.Errorf("Version = %q, want %q", d.Version, s.Version())
			}
		})
	}
}

func TestDecideAllRulesListed(t *testing.T) {
	t.Parallel()
	s := mustSet(t, `
rules:
  - {id: p1, effect: permit, tools: [x]}
  - {id: p2, effect: permit, tools: [x], when: "identity.agent == 'a'"}
  - {id: f1, effect: forbid, tools: [x], when: "identity.env == 'prod'"}
  - {id: f2, effect: forbid, tools: [x], when: "identity.tenant == 't'"}
`)
	p := mustCompile[map[string]any](t, s, "x")
	d := p.Decide(context.Background(), policy.Input{Identity: &identity.Claims{Agent: "a"}})
	if !d.Allowed || !slices.Equal(d.Rules, []string{"p1", "p2"}) {
		t.Fatalf("want allowed by p1,p2; got %+v", d)
	}
	d = p.Decide(context.Background(), policy.Input{Identity: &identity.Claims{Agent: "a", Env: "prod", Tenant: "t"}})
	if d.Allowed || !slices.Equal(d.Rules, []string{"f1", "f2"}) {
		t.Fatalf("want denied by f1,f2; got %+v", d)
	}
}

// A rule that fails at run time counts as a matching forbid, even next to a permit.
func TestEvalErrorDenies(t *testing.T) {
	t.Parallel()
	s := mustSet(t, `
rules:
  - {id: ok, effect: permit, tools: [x]}
  - id: divides
    effect: permit
    tools: [x]
    when: "10 / args.n > 1"
  - id: dyn-not-bool
    effect: permit
    tools: [y]
    when: "identity.claims['flag']"
  - {id: ok-y, effect: permit, tools: [y]}
`)
	type in struct {
		N int `json:"n"`
	}
	p := mustCompile[in](t, s, "x")
	d := p.Decide(context.Background(), policy.Input{Identity: &identity.Claims{}, Args: &in{N: 0}})
	if d.Allowed || len(d.Errors) != 1 || !errors.Is(d.Errors[0], policy.ErrEval) || !slices.Equal(d.Rules, []string{"divides"}) {
		t.Fatalf("division by zero: want deny with one ErrEval from rule divides; got %+v", d)
	}
	d = p.Decide(context.Background(), policy.Input{Identity: &identity.Claims{}, Args: &in{N: 2}})
	if !d.Allowed {
		t.Fatalf("n=2: want allowed; got %+v", d)
	}
	py := mustCompile[in](t, s, "y")
	d = py.Decide(context.Background(), policy.Input{Identity: &identity.Claims{Raw: map[string]any{"flag": "yes"}}, Args: &in{}})
	if d.Allowed || len(d.Errors) != 1 || !strings.Contains(d.Errors[0].Error(), "not bool") {
		t.Fatalf("non-bool when: want deny with error; got %+v", d)
	}
	d = py.Decide(context.Background(), policy.Input{Identity: &identity.Claims{Raw: map[string]any{"flag": true}}, Args: &in{}})
	if !d.Allowed {
		t.Fatalf("bool claim: want allowed; got %+v", d)
	}
}

func TestCancelledContextDenies(t *testing.T) {
	t.Parallel()
	s := mustSet(t, `rules: [{id: p, effect: permit, tools: [x]}]`)
	p := mustCompile[map[string]any](t, s, "x")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	d := p.Decide(ctx, policy.Input{Identity: &identity.Claims{}})
	if d.Allowed || len(d.Errors) == 0 {
		t.Fatalf("cancelled ctx: want deny with error, got %+v", d)
	}
}

// Every load error names file:line:col, the rule and, for type errors, the tool.
func TestLoadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		src     string
		tool    bool // error appears only when compiled for a tool
		want    error
		wantMsg []string
	}{
		{name: "misspelled arg field", tool: true, want: policy.ErrType,
			src:     "rules:\n  - id: r1\n    effect: permit\n    tools: [tickets.get]\n    when: args.identifier == 'x'\n",
			wantMsg: []string{"test.yaml:5:15", "rule r1", "tool tickets.get", "identifier"}},
		{name: "misspelled identity field", want: policy.ErrType,
			src:     "rules:\n  - id: r2\n    effect: permit\n    tools: [a]\n    when: identity.agnt == 'x'\n",
			wantMsg: []string{"test.yaml:5:", "rule r2", "agnt"}},
		{name: "syntax error", want: policy.ErrSyntax,
			src:     "rules:\n  - id: r3\n    effect: permit\n    tools: [a]\n    when: \"identity.agent ==\"\n",
			wantMsg: []string{"test.yaml:5:", "rule r3"}},
		{name: "non-bool when", want: policy.ErrType,
			src:     "rules:\n  - id: r4\n    effect: permit\n    tools: [a]\n    when: identity.agent\n",
			wantMsg: []string{"rule r4", "want bool"}},
		{name: "non-string message", want: policy.ErrType,
			src:     "rules:\n  - id: r5\n    effect: forbid\n    tools: [a]\n    message: \"1 + 2\"\n",
			wantMsg: []string{"rule r5", "want string"}},
		{name: "bad effect", want: policy.ErrInvalid,
			src: "rules:\n  - id: r6\n    effect: allow\n    tools: [a]\n", wantMsg: []string{"test.yaml:2:5", "effect"}},
		{name: "missing id", want: policy.ErrInvalid, src: "rules:\n  - effect: permit\n    tools: [a]\n", wantMsg: []string{"no id"}},
		{name: "no tools", want: policy.ErrInvalid, src: "rules:\n  - id: r7\n    effect: permit\n", wantMsg: []string{"covers no tool"}},
		{name: "bad glob", want: policy.ErrInvalid, src: "rules:\n  - {id: r8, effect: permit, tools: ['a\\']}\n", wantMsg: []string{"bad tool pattern"}},
		{name: "duplicate id", want: policy.ErrInvalid,
			src: "rules:\n  - {id: d, effect: permit, tools: [a]}\n  - {id: d, effect: forbid, tools: [a]}\n", wantMsg: []string{"test.yaml:3:5", "duplicate rule id", "test.yaml:2:5"}},
		{name: "unknown key", want: policy.ErrSyntax,
			src: "rules:\n  - id: r9\n    effect: permit\n    tools: [a]\n    wen: 'true'\n", wantMsg: []string{"test.yaml:5:5", "unknown key \"wen\""}},
		{name: "duplicate key", want: policy.ErrSyntax,
			src: "rules:\n  - id: r10\n    effect: permit\n    effect: forbid\n    tools: [a]\n", wantMsg: []string{"test.yaml:4:5", "duplicate key"}},
		{name: "unknown top-level key", want: policy.ErrSyntax, src: "rulez: []\n", wantMsg: []string{"unknown key \"rulez\""}},
		{name: "not yaml", want: policy.ErrSyntax, src: "rules: [\n", wantMsg: []string{"test.yaml"}},
		{name: "block scalar position", tool: true, want: policy.ErrType,
			src:     "rules:\n  - id: r11\n    effect: permit\n    tools: [tickets.get]\n    when: |\n      identity.agent == 'x' &&\n        args.nope\n",
			wantMsg: []string{"test.yaml:7:", "rule r11", "nope"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := load(tt.src, tt.tool)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			for _, m := range tt.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not mention %q", err, m)
				}
			}
		})
	}
}

func load(src string, compile bool) error {
	rules, err := policy.Parse("test.yaml", []byte(src))
	if err != nil {
		return err
	}
	s, err := policy.NewSet(rules, policy.Options{})
	if err != nil {
		return err
	}
	if compile {
		_, err = s.Compile(policy.Tool{Name: "tickets.get", Input: reflect.TypeFor[ticketArgs]()})
	}
	return err
}

// All problems are reported at once.
func TestLoadReportsEveryError(t *testing.T) {
	t.Parallel()
	src := "rules:\n  - {id: a, effect: nope, tools: [x]}\n  - {id: b, effect: permit, tools: [x], when: 'identity.zzz'}\n  - {effect: permit, tools: [x]}\n"
	err := load(src, false)
	for _, want := range []string{"rule a", "rule b", "no id"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %q", err, want)
		}
	}
}

func TestHostilePolicies(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("(", 200) + "true" + strings.Repeat(")", 200)
	huge := "'" + strings.Repeat("a", 10000) + "' == identity.sub"
	nested := "identity.scopes.all(a, identity.scopes.all(b, identity.scopes.all(c, a + b + c != '')))"
	tests := []struct {
		name string
		when string
		want error
	}{
		{"deep nesting", deep, policy.ErrSyntax},
		{"huge literal", huge, policy.ErrSyntax},
		{"nested comprehensions over budget", nested, policy.ErrCost},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := policy.NewSet([]policy.Rule{{ID: "h", Effect: policy.Permit, Tools: []string{"x"}, When: tt.when}}, policy.Options{})
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// The runtime cost limit stops an expression whose inputs exceed the size hints.
func TestRuntimeCostLimit(t *testing.T) {
	t.Parallel()
	s, err := policy.NewSet([]policy.Rule{{ID: "loop", Effect: policy.Permit, Tools: []string{"x"},
		When: "args.items.all(a, a != 'x')"}}, policy.Options{CostLimit: 10000})
	if err != nil {
		t.Fatal(err)
	}
	type in struct {
		Items []string `json:"items"`
	}
	p := mustCompile[in](t, s, "x")
	big := make([]string, 20000)
	start := time.Now()
	d := p.Decide(context.Background(), policy.Input{Identity: &identity.Claims{}, Args: &in{Items: big}})
	if d.Allowed || len(d.Errors) != 1 || !strings.Contains(d.Errors[0].Error(), "cost") {
		t.Fatalf("want deny by cost limit, got %+v", d)
	}
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("cost limit took %v", el)
	}
}

func TestVersionIgnoresPositions(t *testing.T) {
	t.Parallel()
	a := mustSet(t, "rules:\n  - {id: a, effect: permit, tools: [x]}\n")
	b := mustSet(t, "\n\nrules:\n    - id: a\n      effect: permit\n      tools: [x]\n")
	c := mustSet(t, "rules:\n  - {id: a, effect: permit, tools: [y]}\n")
	if a.Version() != b.Version() {
		t.Errorf("same rules, different versions: %s %s", a.Version(), b.Version())
	}
	if a.Version() == c.Version() {
		t.Errorf("different rules, same version %s", a.Version())
	}
}

func TestRequestVisible(t *testing.T) {
	t.Parallel()
	s := mustSet(t, `rules: [{id: p, effect: permit, tools: [x], when: "request.session == 's1' && tool.name == 'x' && 'ro' in tool.labels"}]`)
	p := mustCompile[map[string]any](t, s, "x", "ro")
	d := p.Decide(context.Background(), policy.Input{Identity: &identity.Claims{}, Request: policy.Request{SessionID: "s1"}})
	if !d.Allowed {
		t.Fatalf("want allowed, got %+v", d)
	}
	d = p.Decide(context.Background(), policy.Input{Identity: &identity.Claims{}, Request: policy.Request{SessionID: "s2"}})
	if d.Allowed {
		t.Fatalf("want denied, got %+v", d)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(supportPolicy))
	f.Add([]byte("rules: [{id: a, effect: permit, tools: [x], when: 'args.a > 1'}]"))
	f.Add([]byte("rules:\n  - id: a\n    effect: forbid\n    tools: ['*']\n    when: |\n      identity.sub.matches('^a+$')\n"))
	f.Add([]byte("rules: &a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rules, err := policy.Parse("fuzz.yaml", data)
		if err != nil {
			var pe *policy.Error
			if !errors.As(err, &pe) {
				t.Fatalf("Parse error is not a *policy.Error: %v", err)
			}
			return
		}
		s, err := policy.NewSet(rules, policy.Options{})
		if err != nil {
			return
		}
		p, err := s.Compile(policy.Tool{Name: "x", Input: reflect.TypeFor[ticketArgs]()})
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		p.Decide(ctx, policy.Input{Identity: &identity.Claims{}, Args: &ticketArgs{}})
	})
}

// Hostile inputs at run time deny within a bounded time.
func TestHostileEvaluation(t *testing.T) {
	t.Parallel()
	type in struct {
		N    int64  `json:"n"`
		Text string `json:"text"`
	}
	s := mustSet(t, `
rules:
  - {id: overflow, effect: permit, tools: [x], when: "args.n * 2 > 0"}
  - {id: regex, effect: permit, tools: [y], when: "args.text.matches('^(a+)+$')"}
`)
	px := mustCompile[in](t, s, "x")
	d := px.Decide(context.Background(), policy.Input{Identity: &identity.Claims{}, Args: &in{N: math.MaxInt64}})
	if d.Allowed || len(d.Errors) != 1 || !strings.Contains(d.Errors[0].Error(), "overflow") {
		t.Fatalf("int overflow: want deny with an overflow error, got %+v", d)
	}
	py := mustCompile[in](t, s, "y")
	// A backtracking engine needs 2^n steps for n a's: 64 KiB would never
	// finish. RE2 is linear, so this takes milliseconds; the bound is loose
	// because -race on a loaded 2-core machine is 20–50× slower than idle (a
	// 1 MiB input at 5 s failed there while linear all the same).
	start := time.Now()
	d = py.Decide(context.Background(), policy.Input{Identity: &identity.Claims{}, Args: &in{Text: strings.Repeat("a", 1<<16) + "!"}})
	if d.Allowed || time.Since(start) > 5*time.Second {
		t.Fatalf("catastrophic-backtracking regex on 64 KiB: allowed=%v after %v", d.Allowed, time.Since(start))
	}
}

// TestRegexPatternsAreLiterals: every way of handing matches() a pattern that
// is not a literal is refused when the rule is compiled (its cost would be the
// product of two attacker-sized strings); literals are accepted.
func TestRegexPatternsAreLiterals(t *testing.T) {
	t.Parallel()
	type in struct {
		S string   `json:"s"`
		T string   `json:"t"`
		L []string `json:"l"`
	}
	refused := []string{
		"args.s.matches(args.t)", "matches(args.s, args.t)", "args.s.matches(identity.sub)",
		"args.s.matches('^' + args.t)", "args.s.matches(args.l[0])", "args.l.exists(x, args.s.matches(x))",
		"args.s.matches(tool.name)", "'x'.matches(args.t)", "args.s.matches(args.s)",
		"args.s.matches(args.s.lowerAscii())", "args.s.matches('a' + 'b')",
	}
	for _, when := range refused {
		for _, field := range []string{"when", "message"} {
			src := "rules:\n  - {id: r, effect: permit, tools: [x], when: \"true\"}\n"
			if field == "when" {
				src = strings.Replace(src, `"true"`, strconv.Quote(when), 1)
			} else {
				src = strings.Replace(src, `}`, `, message: `+strconv.Quote("string("+when+")")+`}`, 1)
			}
			rules, err := policy.Parse("test.yaml", []byte(src))
			if err != nil {
				t.Fatal(err)
			}
			s, err := policy.NewSet(rules, policy.Options{}) // args-free rules compile here
			if err == nil {
				_, err = s.Compile(policy.Tool{Name: "x", Input: reflect.TypeFor[in]()})
			}
			if err == nil || !(strings.Contains(err.Error(), "string literal") || strings.Contains(err.Error(), "exceeds the budget")) {
				t.Errorf("%s %s: compiled (%v); want refused", field, when, err)
			}
		}
	}
	for _, when := range []string{"args.s.matches('^a+$')", "matches(args.s, \"[0-9]+\")"} {
		s := mustSet(t, "rules:\n  - {id: r, effect: permit, tools: [x], when: "+strconv.Quote(when)+"}\n")
		if _, err := s.Compile(policy.Tool{Name: "x", Input: reflect.TypeFor[in]()}); err != nil {
			t.Errorf("%s: %v", when, err)
		}
	}
}
