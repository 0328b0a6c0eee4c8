package policy

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Key says whose calls share a rate limit or budget. Subjects are keyed with
// their issuer; callers whose token lacks the agent or tenant claim share one
// bucket per rule (and tool) under KeyAgent or KeyTenant.
type Key string

// The keys. The empty Key means KeySubject.
const (
	KeySubject Key = "subject"
	KeyAgent   Key = "agent"
	KeyTenant  Key = "tenant"
)

func (k Key) check() error {
	switch k {
	case "", KeySubject, KeyAgent, KeyTenant:
		return nil
	}
	return fmt.Errorf("per must be subject, agent or tenant, not %q", k)
}

// Limit is a token-bucket rate limit on the calls a permit rule allows, kept per
// key and tool.
type Limit struct {
	// Rate is the sustained rate in calls per second. In YAML it is written
	// "N/s", "N/m", "N/h" or "N/d" (or a plain number of calls per second).
	Rate float64
	// Burst is the bucket size; 0 means the rate rounded up, at least 1.
	Burst int
	// Per is whose calls share the bucket; default KeySubject.
	Per Key
}

func (l *Limit) check() error {
	if !(l.Rate > 0) || math.IsInf(l.Rate, 0) {
		return fmt.Errorf("rate must be positive, not %v", l.Rate)
	}
	if l.Burst < 0 {
		return fmt.Errorf("burst must not be negative")
	}
	return l.Per.check()
}

// EffectiveBurst is Burst, or the rate rounded up (at least 1) when Burst is 0.
func (l Limit) EffectiveBurst() int {
	if l.Burst > 0 {
		return l.Burst
	}
	return max(1, int(math.Ceil(l.Rate)))
}

// ParseRate reads a rate written "N/s", "N/m", "N/h", "N/d" or "N" (per second)
// and returns calls per second.
func ParseRate(s string) (float64, error) {
	num, unit, found := strings.Cut(strings.TrimSpace(s), "/")
	n, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || !(n > 0) || math.IsInf(n, 0) {
		return 0, fmt.Errorf("bad rate %q: want N/s, N/m, N/h or N/d with N > 0", s)
	}
	if !found {
		return n, nil
	}
	per := map[string]float64{"s": 1, "m": 60, "h": 3600, "d": 86400}[strings.TrimSpace(unit)]
	if per == 0 {
		return 0, fmt.Errorf("bad rate unit in %q: want s, m, h or d", s)
	}
	return n / per, nil
}

// Budget caps the running sum of an expression over a sliding window: a call is
// allowed only if the sum of Expr over the calls this rule allowed in the last
// Window, plus this call's value, stays within Max. For example, with Expr
// "args.amount_cents", Max 500000 and Window 24h, an agent may move at most
// $5,000 a day.
type Budget struct {
	// Expr is a CEL expression of type int or double, evaluated per call.
	Expr string
	// Max is the most the window's sum may reach.
	Max float64
	// Window is how far back the sum looks.
	Window time.Duration
	// Per is whose calls share the budget; default KeySubject.
	Per Key
	// Pos is where Expr starts, for errors.
	Pos Position
}

func (b *Budget) check() error {
	var errs []error
	if b.Expr == "" {
		errs = append(errs, errors.New("expr is required"))
	}
	if !(b.Max > 0) || math.IsInf(b.Max, 0) {
		errs = append(errs, fmt.Errorf("max must be positive, not %v", b.Max))
	}
	if b.Window <= 0 {
		errs = append(errs, fmt.Errorf("window must be positive, not %v", b.Window))
	}
	errs = append(errs, b.Per.check())
	return errors.Join(errs...)
}

// Obligations are what a decision asks the guard to enforce besides allowing the
// call. They are the union of the obligations of every permit rule that matched.
type Obligations struct {
	// Approval: run the tool only under a valid approval grant.
	Approval bool
	// Redact: output paths to redact before the output reaches the model.
	Redact []string
	// Limits: rate limits to charge, one per rule.
	Limits []RuleLimit
	// Budgets: budgets to charge with this call's amount, one per rule.
	Budgets []RuleBudget
	// Labels: labels the output carries (the rules' add_labels), recorded in
	// the call's session and principal history.
	Labels []string
}

// RuleLimit is a rate limit and the rule that set it.
type RuleLimit struct {
	Rule  string
	Limit Limit
}

// RuleBudget is a budget, the rule that set it, and this call's amount.
type RuleBudget struct {
	Rule   string
	Budget Budget
	Amount float64
}

// Empty reports whether there is nothing to enforce.
func (o *Obligations) Empty() bool {
	if o == nil {
		return true
	}
	return !o.Approval && len(o.Redact) == 0 && len(o.Limits) == 0 && len(o.Budgets) == 0 && len(o.Labels) == 0
}
