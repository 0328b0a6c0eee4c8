package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"cel.dev/cel-go/cel"
)

// Options bound what a policy may cost. The zero value gives the defaults noted on
// each field.
type Options struct {
	// MaxExpressionSize bounds the length of one expression in code points.
	// Default 4096.
	MaxExpressionSize int
	// MaxNesting bounds how deeply an expression may nest. Default 32.
	MaxNesting int
	// CostBudget rejects at load any expression whose estimated worst-case cost,
	// with strings, bytes, lists and maps assumed no larger than SizeHint, exceeds
	// it. Default 100000.
	CostBudget uint64
	// SizeHint is the size assumed for strings, lists and maps in cost estimates.
	// Default 1024.
	SizeHint uint64
	// CostLimit aborts an evaluation at run time once its actual cost passes the
	// limit; the rule then counts as a matching forbid. Default 1000000.
	CostLimit uint64
}

func (o Options) withDefaults() Options {
	if o.MaxExpressionSize <= 0 {
		o.MaxExpressionSize = 4096
	}
	if o.MaxNesting <= 0 {
		o.MaxNesting = 32
	}
	if o.CostBudget == 0 {
		o.CostBudget = 100_000
	}
	if o.SizeHint == 0 {
		o.SizeHint = 1024
	}
	if o.CostLimit == 0 {
		o.CostLimit = 1_000_000
	}
	return o
}

// Set is a checked, immutable set of rules, combined from any number of files.
// Compile it once per tool with [Set.Compile]. A Set is safe for concurrent use.
type Set struct {
	rules   []Rule
	opts    Options
	version string
	env     *cel.Env
	index   toolIndex
	cache   *compileCache // shared by copies (WithVersion): same rules, same programs
	parses  *parseCache
}

// Ready reports whether s was built by [NewSet], [Parse]+NewSet or [Load]: a
// zero or nil Set compiles nothing and is an error wherever a Set is taken.
func (s *Set) Ready() error {
	if s == nil || s.env == nil || s.cache == nil {
		return &Error{Err: ErrInvalid, Msg: "policy set not built by NewSet or Load"}
	}
	return nil
}

// NewSet checks rules and returns them as a Set. It reports every problem at once:
// structural errors, duplicate ids, and expressions that do not parse or do not
// type-check against identity, tool and request (args is checked per tool by
// [Set.Compile]).
func NewSet(rules []Rule, opts Options) (*Set, error) {
	opts = opts.withDefaults()
	env, err := baseEnv(opts)
	if err != nil {
		return nil, fmt.Errorf("policy: build CEL environment: %w", err)
	}
	s := &Set{rules: cloneRules(rules), opts: opts, env: env, cache: &compileCache{}, parses: &parseCache{}}
	err = s.check()
	s.parses.frozen = true
	if err != nil {
		return nil, err
	}
	s.version = version(s.rules)
	s.index = newToolIndex(s.rules)
	return s, nil
}

func (s *Set) check() error {
	var errs []error
	ids := make(map[string]Position, len(s.rules))
	dynEnv, err := argsEnv(s.env, nil)
	if err != nil {
		return err
	}
	for i := range s.rules {
		r := &s.rules[i]
		if rerrs := r.check(); len(rerrs) > 0 {
			errs = append(errs, rerrs...)
			continue
		}
		if first, dup := ids[r.ID]; dup {
			errs = append(errs, &Error{Pos: r.Pos, Rule: r.ID, Err: ErrInvalid, Msg: "duplicate rule id, first defined at " + first.String()})
		}
		ids[r.ID] = r.Pos
		c, cerrs := s.compileRule(dynEnv, r, "")
		errs = append(errs, cerrs...)
		if len(cerrs) == 0 {
			c.extra, cerrs = s.compileExtra(dynEnv, r, "", &c)
			errs = append(errs, cerrs...)
		}
		if len(cerrs) == 0 {
			s.cache.keepArgsFree(i, c)
		}
	}
	return joinUnique(errs)
}

// joinUnique joins errs, dropping repeats (a broken variable shared by several
// rules is reported once).
func joinUnique(errs []error) error {
	seen := make(map[string]bool, len(errs))
	out := errs[:0]
	for _, e := range errs {
		if msg := e.Error(); !seen[msg] {
			seen[msg] = true
			out = append(out, e)
		}
	}
	return errors.Join(out...)
}

// Rules returns a copy of the set's rules.
func (s *Set) Rules() []Rule {
	if s == nil {
		return nil
	}
	return cloneRules(s.rules)
}

// Version identifies the set's content: "sha256:" and the hex digest of its rules'
// canonical JSON (positions excluded). Two sets with the same rules in the same order
// have the same version, wherever they were loaded from.
func (s *Set) Version() string {
	if s == nil {
		return ""
	}
	return s.version
}

// WithVersion returns a copy of s whose [Set.Version] is v instead of its
// content digest: a signed bundle's version, so that every decision names the
// bundle it was made under. v must not be empty.
func (s *Set) WithVersion(v string) (*Set, error) {
	if s == nil || v == "" {
		return nil, errors.New("policy: WithVersion needs a set and a non-empty version")
	}
	c := *s
	c.version = v
	return &c, nil
}

func version(rules []Rule) string {
	cs := make([]Rule, len(rules))
	for i, r := range rules {
		r.Pos, r.WhenPos, r.MessagePos = Position{}, Position{}, Position{}
		if r.Budget != nil {
			b := *r.Budget
			b.Pos = Position{}
			r.Budget = &b
		}
		vars := make([]Variable, len(r.Variables))
		for j, v := range r.Variables {
			vars[j] = Variable{Name: v.Name, Expr: v.Expr}
		}
		r.Variables = vars
		cs[i] = r
	}
	b, _ := json.Marshal(cs) // cannot fail: strings, numbers and slices only
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func cloneRules(rules []Rule) []Rule {
	out := make([]Rule, len(rules))
	for i, r := range rules {
		r.Tools = append([]string(nil), r.Tools...)
		r.Labels = append([]string(nil), r.Labels...)
		r.Controls = append([]string(nil), r.Controls...)
		r.Require = append([]string(nil), r.Require...)
		r.Redact = append([]string(nil), r.Redact...)
		r.AddLabels = append([]string(nil), r.AddLabels...)
		if r.Limit != nil {
			l := *r.Limit
			r.Limit = &l
		}
		if r.Budget != nil {
			b := *r.Budget
			r.Budget = &b
		}
		out[i] = r
	}
	return out
}
