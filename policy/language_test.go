package policy_test

import (
	"context"
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
)

func TestVariables(t *testing.T) {
	t.Parallel()
	s := mustSet(t, `
variables:
  - name: is_finance
    expression: identity.agent == "finance-bot"
  - name: small
    expression: args.amount_cents <= 50000
  - name: small_finance
    expression: variables.is_finance && variables.small
rules:
  - id: pay
    effect: permit
    tools: [payments.initiate]
    when: variables.small_finance
`)
	p := mustCompile[paymentArgs](t, s, "payments.initiate")
	fin := &identity.Claims{Agent: "finance-bot"}
	for _, tt := range []struct {
		id     *identity.Claims
		amount int64
		want   bool
	}{{fin, 100, true}, {fin, 50001, false}, {&identity.Claims{Agent: "x"}, 100, false}} {
		d := p.Decide(context.Background(), policy.Input{Identity: tt.id, Args: &paymentArgs{AmountCents: tt.amount}})
		if d.Allowed != tt.want {
			t.Errorf("agent %s amount %d: allowed = %v, want %v", tt.id.Agent, tt.amount, d.Allowed, tt.want)
		}
	}
}

func TestVariableErrors(t *testing.T) {
	t.Parallel()
	for name, tt := range map[string]struct {
		src  string
		want error
		msg  string
	}{
		"type error in variable": {"variables:\n  - name: v\n    expression: args.nope > 1\nrules:\n  - {id: r, effect: permit, tools: [tickets.get], when: variables.v}\n",
			policy.ErrType, "test.yaml:3:21: tool tickets.get: variable v: undefined field 'nope'"},
		"unknown variable": {"rules:\n  - {id: r, effect: permit, tools: [tickets.get], when: variables.missing}\n",
			policy.ErrType, "undeclared reference"},
		"later variable used early": {"variables:\n  - {name: a, expression: variables.b}\n  - {name: b, expression: 'true'}\nrules:\n  - {id: r, effect: permit, tools: [x], when: variables.a}\n",
			policy.ErrType, "variable a"},
		"bad name": {"variables:\n  - {name: 'a-b', expression: 'true'}\nrules:\n  - {id: r, effect: permit, tools: [x]}\n",
			policy.ErrInvalid, "not an identifier"},
	} {
		err := load(tt.src, true)
		if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: err = %v, want %v mentioning %q", name, err, tt.want, tt.msg)
		}
	}
}

func TestObligations(t *testing.T) {
	t.Parallel()
	s := mustSet(t, `
rules:
  - id: pay
    effect: permit
    tools: [payments.initiate]
    require: [approval]
    limit: {rate: 10/m, burst: 3, per: agent}
    budget: {expr: args.amount_cents, max: 500000, window: 24h, per: agent}
  - id: pay-redact
    effect: permit
    tools: [payments.*]
    redact: ["payee", "receipt.card[*].number"]
`)
	p := mustCompile[paymentArgs](t, s, "payments.initiate")
	d := p.Decide(context.Background(), policy.Input{Identity: &identity.Claims{Agent: "f"}, Args: &paymentArgs{AmountCents: 1234}})
	o := d.Obligations
	if !d.Allowed || !o.Approval || !slices.Equal(o.Redact, []string{"payee", "receipt.card[*].number"}) {
		t.Fatalf("decision = %+v", d)
	}
	if len(o.Limits) != 1 || o.Limits[0].Rule != "pay" || math.Abs(o.Limits[0].Limit.Rate-10.0/60) > 1e-9 ||
		o.Limits[0].Limit.Burst != 3 || o.Limits[0].Limit.Per != policy.KeyAgent {
		t.Errorf("limits = %+v", o.Limits)
	}
	if len(o.Budgets) != 1 || o.Budgets[0].Amount != 1234 || o.Budgets[0].Budget.Max != 500000 ||
		o.Budgets[0].Budget.Window != 24*time.Hour {
		t.Errorf("budgets = %+v", o.Budgets)
	}
	// No obligations on a denial.
	denied := p.Decide(context.Background(), policy.Input{Identity: nil, Args: &paymentArgs{}})
	if !denied.Obligations.Empty() {
		t.Errorf("denial carries obligations: %+v", denied.Obligations)
	}
}

func TestObligationErrors(t *testing.T) {
	t.Parallel()
	for name, tt := range map[string]struct{ rule, msg string }{
		"forbid with obligations": {"{id: r, effect: forbid, tools: [x], require: [approval]}", "cannot carry obligations"},
		"unknown requirement":     {"{id: r, effect: permit, tools: [x], require: [mfa]}", "unknown requirement"},
		"bad redact path":         {"{id: r, effect: permit, tools: [x], redact: ['a..b']}", "redact"},
		"bad rate":                {"{id: r, effect: permit, tools: [x], limit: {rate: fast}}", "bad rate"},
		"bad rate unit":           {"{id: r, effect: permit, tools: [x], limit: {rate: 3/week}}", "unit"},
		"bad per":                 {"{id: r, effect: permit, tools: [x], limit: {rate: 1/s, per: model}}", "per must be"},
		"budget without window":   {"{id: r, effect: permit, tools: [x], budget: {expr: '1', max: 10}}", "window must be positive"},
		"budget not numeric":      {"{id: r, effect: permit, tools: [x], budget: {expr: identity.sub, max: 10, window: 1h}}", "want int, uint or double"},
		"bad mode":                {"{id: r, effect: permit, tools: [x], mode: audit}", "mode must be"},
	} {
		err := load("rules:\n  - "+tt.rule+"\n", false)
		if err == nil || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: err = %v, want it to mention %q", name, err, tt.msg)
		}
	}
}

func TestBudgetEvalErrorDenies(t *testing.T) {
	t.Parallel()
	s := mustSet(t, "rules:\n  - {id: r, effect: permit, tools: [x], budget: {expr: '100 / args.amount_cents', max: 10, window: 1h}}\n")
	p := mustCompile[paymentArgs](t, s, "x")
	d := p.Decide(context.Background(), policy.Input{Identity: &identity.Claims{}, Args: &paymentArgs{}})
	if d.Allowed || len(d.Errors) != 1 || !d.Obligations.Empty() {
		t.Fatalf("want deny on budget error, got %+v", d)
	}
}

func TestShadowMode(t *testing.T) {
	t.Parallel()
	s := mustSet(t, `
rules:
  - {id: read, effect: permit, tools: [tickets.get]}
  - {id: new-forbid, effect: forbid, tools: [tickets.get], mode: shadow, when: "identity.env == 'prod'"}
  - {id: new-permit, effect: permit, tools: [repo.read], mode: shadow}
`)
	get := mustCompile[ticketArgs](t, s, "tickets.get")
	d := get.Decide(context.Background(), policy.Input{Identity: &identity.Claims{Env: "prod"}, Args: &ticketArgs{}})
	if !d.Allowed || !d.WouldFlip() || d.ShadowAllowed || len(d.Shadow) != 1 || d.Shadow[0].Rule != "new-forbid" {
		t.Fatalf("shadow forbid: %+v", d)
	}
	d = get.Decide(context.Background(), policy.Input{Identity: &identity.Claims{Env: "dev"}, Args: &ticketArgs{}})
	if !d.Allowed || d.WouldFlip() || len(d.Shadow) != 0 {
		t.Fatalf("shadow forbid not matching: %+v", d)
	}
	repo := mustCompile[ticketArgs](t, s, "repo.read")
	d = repo.Decide(context.Background(), policy.Input{Identity: &identity.Claims{}, Args: &ticketArgs{}})
	if d.Allowed || !d.ShadowAllowed || !d.WouldFlip() {
		t.Fatalf("shadow permit: %+v", d)
	}
}

func TestFileMode(t *testing.T) {
	t.Parallel()
	s := mustSet(t, "mode: shadow\nrules:\n  - {id: a, effect: forbid, tools: [x]}\n  - {id: b, effect: permit, tools: [x], mode: enforce}\n")
	p := mustCompile[map[string]any](t, s, "x")
	d := p.Decide(context.Background(), policy.Input{Identity: &identity.Claims{}})
	if !d.Allowed || d.ShadowAllowed || !slices.Equal(d.Rules, []string{"b"}) {
		t.Fatalf("file-level shadow: %+v", d)
	}
}

// The message a model sees names no rule: a forbid without a message says nothing
// beyond its reason code.
func TestTwoChannelReasons(t *testing.T) {
	t.Parallel()
	s := mustSet(t, "rules:\n  - {id: secret-rule-name, effect: forbid, tools: [x]}\n  - {id: p, effect: permit, tools: [x]}\n")
	p := mustCompile[map[string]any](t, s, "x")
	d := p.Decide(context.Background(), policy.Input{Identity: &identity.Claims{}})
	if len(d.Messages) != 0 {
		t.Errorf("Messages = %q, want none", d.Messages)
	}
	if len(d.Reasons) != 1 || !strings.Contains(d.Reasons[0], "secret-rule-name") {
		t.Errorf("Reasons = %q, want the rule named for the operator", d.Reasons)
	}
}

func TestParseRate(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]float64{"5": 5, "10/s": 10, "60/m": 1, "7200/h": 2, "86400/d": 1, " 3 / s ": 3} {
		if got, err := policy.ParseRate(in); err != nil || got != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0/s", "-1/s", "x/s", "1/y", "inf", "NaN"} {
		if _, err := policy.ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q): want error", in)
		}
	}
}

func TestParsePath(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"a", "customer.email", "attachments[*].content", "a[3].b[*]", "[*]", "[*].email", "[2].a[*].b"} {
		p, err := policy.ParsePath(in)
		if err != nil || p.String() != in {
			t.Errorf("ParsePath(%q) = %v, %v", in, p, err)
		}
	}
	for _, in := range []string{"", ".", "a.", "a[", "a[x]", "a[-1]", "a]", "a.[*]", "[*][*]", "[*].[0]", "a[[0]]"} {
		if _, err := policy.ParsePath(in); err == nil {
			t.Errorf("ParsePath(%q): want error", in)
		}
	}
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"a", "customer.email", "attachments[*].content", "a[3]", "a[", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := policy.ParsePath(s)
		if err != nil {
			return
		}
		again, err := policy.ParsePath(p.String())
		if err != nil || again.String() != p.String() {
			t.Fatalf("round trip of %q: %q, %v", s, again, err)
		}
	})
}

// TestCheckOutputPathShapes: a path is accepted exactly where the output type's
// JSON form can hold it.
func TestCheckOutputPathShapes(t *testing.T) {
	t.Parallel()
	type item struct {
		Email string `json:"email"`
		Raw   []byte `json:"raw"`
		Fixed [4]byte
		Tags  []string `json:"tags,omitempty"`
		Meta  map[string]string
		Any   any
	}
	type out struct {
		Items []item `json:"items"`
		One   *item  `json:"one"`
	}
	for _, tt := range []struct {
		typ  any
		path string
		ok   bool
	}{
		{out{}, "items[*].email", true}, {out{}, "one.email", true}, {out{}, "items.email", false},
		{out{}, "email", false}, {[]item{}, "[*].email", true}, {[]item{}, "email", false},
		{out{}, "items[*].raw", true}, {out{}, "items[*].raw[0]", false}, {out{}, "items[*].Fixed[1]", true},
		{out{}, "items[*].tags[2]", true}, {out{}, "items[*].Meta.anything", true},
		{out{}, "items[*].Any.whatever[3].x", true}, {out{}, "items[*].Email", false}, {out{}, "one[0]", false},
	} {
		err := policy.CheckOutputPath(reflect.TypeOf(tt.typ), tt.path)
		if (err == nil) != tt.ok {
			t.Errorf("%T %q: err=%v, want ok=%v", tt.typ, tt.path, err, tt.ok)
		}
	}
}
