package access

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/policy"
)

// SuggestOptions tune [Suggest]. The zero value considers only the tools the
// policy names and the log shows, without labels.
type SuggestOptions struct {
	// Tools are tools with their labels (a rule may cover tools by label), and
	// further tools the policy's globs cover, counted when measuring what the
	// suggestion removes.
	Tools []policy.Tool
}

// Change is what the suggestion does to one rule.
type Change struct {
	Rule string `json:"rule"`
	File string `json:"file"`
	// Before are the rule's tool patterns; After the tools it keeps, those its
	// allowed calls used. After is empty when the rule is removed: it let no
	// call through.
	Before  []string `json:"before"`
	After   []string `json:"after"`
	Removed bool     `json:"removed,omitempty"`
}

// FileDiff is a policy file and its suggested replacement.
type FileDiff struct {
	Path string `json:"path"`
	Old  []byte `json:"-"`
	New  []byte `json:"-"`
	// Diff is the unified diff from Old to New.
	Diff string `json:"diff"`
}

// Flip is an allowed call the suggestion would deny.
type Flip struct {
	Seq     uint64   `json:"seq"`
	Tool    string   `json:"tool"`
	Subject string   `json:"subject"`
	Rules   []string `json:"rules"`
	Reasons []string `json:"reasons"`
}

// Replay is the proof obligation of a suggestion: the allowed calls of the log
// re-decided under the current and the suggested policy.
type Replay struct {
	// Allowed is how many allowed decisions the log records; StillAllowed how
	// many the suggested policy allows again.
	Allowed      int `json:"allowed"`
	StillAllowed int `json:"still_allowed"`
	// AlreadyDenied are allowed in the log and denied by the current policy
	// as well (the log predates a change): not the suggestion's doing.
	AlreadyDenied int `json:"already_denied"`
	// NotReplayable need arguments the log did not record. The rule that
	// allowed each still covers its tool with the same condition.
	NotReplayable int `json:"not_replayable"`
	// Flipped are allowed by the current policy and denied by the suggestion.
	Flipped []Flip `json:"flipped"`
}

// Suggestion is a narrower policy drawn from observed use, and its check.
type Suggestion struct {
	Changes []Change   `json:"changes"`
	Files   []FileDiff `json:"files"`
	Replay  Replay     `json:"replay"`
	// Before and After count the (identity, tool) pairs that may be allowed,
	// for the identities in the log and the tools considered; Before-After
	// possible calls are removed.
	Before int `json:"entitlements_before"`
	After  int `json:"entitlements_after"`
	// Globs are the tool patterns with wildcards that were replaced by names:
	// they covered tools no list can count.
	Globs []string `json:"globs_narrowed"`
}

// Safe reports whether no call the current policy allows in the log is denied
// by the suggestion.
func (s *Suggestion) Safe() bool { return s != nil && len(s.Replay.Flipped) == 0 }

// Suggest drafts, from the use the log shows within the window of u's bounds,
// a narrower version of the policy in paths: each enforced permit rule keeps
// only the tools its allowed calls used, and a permit that let nothing through
// is removed; forbid and shadow rules are kept as they are. Only the lines of
// the changed rules are edited. It then replays every allowed decision of the
// log through the current and the suggested policy (the [Replay]) and counts
// the entitlements removed. It never writes a file; see [Suggestion.Files].
func Suggest(ctx context.Context, paths []string, log *audit.Log, u *Usage, opts SuggestOptions) (*Suggestion, error) {
	if u == nil || u.ids == nil {
		return nil, fmt.Errorf("%w: Suggest needs a Usage from ReadUsage", ErrInput)
	}
	cur, srcs, err := loadSources(paths)
	if err != nil {
		return nil, err
	}
	s := &Suggestion{Changes: []Change{}, Files: []FileDiff{}, Globs: []string{}}
	tools := withTools(mergeLabels(Tools(cur), opts.Tools), u.ToolNames())
	used, err := usedBy(ctx, log, u, cur, tools)
	if err != nil {
		return nil, err
	}
	narrow, drop := s.plan(cur, used)
	next, err := s.rewriteAll(paths, srcs, narrow, drop)
	if err != nil {
		return nil, err
	}
	if s.Replay, err = replay(ctx, log, u, cur, next, tools); err != nil {
		return nil, err
	}
	s.Before, err = entitled(ctx, cur, u, tools)
	if err == nil {
		s.After, err = entitled(ctx, next, u, tools)
	}
	return s, err
}

func loadSources(paths []string) (*policy.Set, [][]byte, error) {
	if len(paths) == 0 {
		return nil, nil, fmt.Errorf("%w: no policy files", ErrInput)
	}
	srcs := make([][]byte, len(paths))
	for i, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, err
		}
		srcs[i] = b
	}
	set, err := parseAll(paths, srcs)
	return set, srcs, err
}

func parseAll(paths []string, srcs [][]byte) (*policy.Set, error) {
	var rules []policy.Rule
	for i, p := range paths {
		rs, err := policy.Parse(p, srcs[i])
		if err != nil {
			return nil, err
		}
		rules = append(rules, rs...)
	}
	return policy.NewSet(rules, policy.Options{})
}

// usedBy re-decides the log's allowed calls under the current policy and
// returns, per permit rule, the tools of the calls it allowed. A call that
// cannot be re-decided (its arguments were not recorded) counts for every
// enforced permit covering its tool, so that the suggestion keeps it.
func usedBy(ctx context.Context, log *audit.Log, u *Usage, cur *policy.Set, tools []policy.Tool) (map[string]map[string]bool, error) {
	used := map[string]map[string]bool{}
	note := func(rule, tool string) {
		if used[rule] == nil {
			used[rule] = map[string]bool{}
		}
		used[rule][tool] = true
	}
	ps, labels := newPrograms(cur), byName(tools)
	err := log.Events(func(e audit.Event) error {
		if e.Phase != audit.PhaseDecision || e.Decision != audit.Allow || skipped[e.Code] || !u.within(&e) {
			return nil
		}
		t := labels[e.Tool]
		t.Name = e.Tool
		in, ierr := Input(&e)
		d, err := decide(ctx, ps, t, in)
		if err != nil {
			return err
		}
		if ierr == nil && (d.Allowed || len(d.Errors) == 0) {
			for _, r := range d.Rules {
				note(r, e.Tool)
			}
			return nil
		}
		for _, r := range cur.Rules() {
			if r.Effect == policy.Permit && r.Mode != policy.Shadow && r.Covers(e.Tool, t.Labels) {
				note(r.ID, e.Tool)
			}
		}
		return nil
	})
	return used, err
}

func byName(tools []policy.Tool) map[string]policy.Tool {
	m := make(map[string]policy.Tool, len(tools))
	for _, t := range tools {
		m[t.Name] = t
	}
	return m
}

// plan decides what happens to each rule.
func (s *Suggestion) plan(cur *policy.Set, usedBy map[string]map[string]bool) (narrow map[string][]string, drop map[string]bool) {
	narrow, drop = map[string][]string{}, map[string]bool{}
	for _, r := range cur.Rules() {
		if r.Effect != policy.Permit || r.Mode == policy.Shadow {
			continue
		}
		used := slices.Sorted(maps.Keys(usedBy[r.ID]))
		if slices.Equal(used, slices.Sorted(slices.Values(r.Tools))) {
			continue
		}
		c := Change{Rule: r.ID, File: r.Pos.File, Before: r.Tools, After: used}
		if len(used) == 0 {
			c.After, c.Removed = []string{}, true
			drop[r.ID] = true
		} else {
			narrow[r.ID] = used
		}
		for _, pat := range r.Tools {
			if strings.ContainsAny(pat, `*?\`) {
				s.Globs = append(s.Globs, pat)
			}
		}
		s.Changes = append(s.Changes, c)
	}
	return narrow, drop
}

func (s *Suggestion) rewriteAll(paths []string, srcs [][]byte, narrow map[string][]string, drop map[string]bool) (*policy.Set, error) {
	out := make([][]byte, len(srcs))
	for i, p := range paths {
		b, err := rewrite(srcs[i], narrow, drop)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		out[i] = b
		if d := unifiedDiff(p, strings.Split(string(srcs[i]), "\n"), strings.Split(string(b), "\n")); d != "" {
			s.Files = append(s.Files, FileDiff{Path: p, Old: srcs[i], New: b, Diff: d})
		}
	}
	next, err := parseAll(paths, out)
	if err != nil {
		return nil, fmt.Errorf("access: the suggested policy does not load (a bug): %w", err)
	}
	return next, nil
}

// mergeLabels returns tools with the labels given in labelled.
func mergeLabels(tools, labelled []policy.Tool) []policy.Tool {
	out := slices.Clone(labelled)
	for _, t := range tools {
		if !slices.ContainsFunc(out, func(x policy.Tool) bool { return x.Name == t.Name }) {
			out = append(out, t)
		}
	}
	return out
}

// skipped are the reason codes of denials made before the policy was consulted.
var skipped = map[string]bool{"unauthenticated": true, "bad_arguments": true, "audit_failed": true}

func replay(ctx context.Context, log *audit.Log, u *Usage, cur, next *policy.Set, tools []policy.Tool) (Replay, error) {
	r := Replay{Flipped: []Flip{}}
	pc, pn, labels := newPrograms(cur), newPrograms(next), byName(tools)
	err := log.Events(func(e audit.Event) error {
		if e.Phase != audit.PhaseDecision || e.Decision != audit.Allow || skipped[e.Code] || !u.within(&e) {
			return nil
		}
		r.Allowed++
		in, err := Input(&e)
		if err != nil {
			r.NotReplayable++
			return nil
		}
		t := labels[e.Tool]
		t.Name = e.Tool
		was, err := decide(ctx, pc, t, in)
		if err != nil {
			return err
		}
		now, err := decide(ctx, pn, t, in)
		if err != nil {
			return err
		}
		switch {
		case !was.Allowed && len(was.Errors) > 0 && e.Args == nil:
			r.NotReplayable++
		case !was.Allowed:
			r.AlreadyDenied++
		case now.Allowed:
			r.StillAllowed++
		default:
			r.Flipped = append(r.Flipped, Flip{Seq: e.Seq, Tool: e.Tool, Subject: e.Identity.Subject, Rules: now.Rules, Reasons: now.Reasons})
		}
		return nil
	})
	return r, err
}

func decide(ctx context.Context, ps *programs, t policy.Tool, in policy.Input) (policy.Decision, error) {
	p, err := ps.get(t)
	if err != nil {
		return policy.Decision{}, err
	}
	return p.Decide(ctx, in), nil
}

// Input rebuilds what a guard decided on from a decision event: the recorded
// identity ([Claims]), the recorded arguments (none unless the guard recorded
// them) and the request ids and time.
func Input(e *audit.Event) (policy.Input, error) {
	if e == nil {
		return policy.Input{}, fmt.Errorf("%w: no event", ErrInput)
	}
	c, err := Claims(e.Identity)
	if err != nil {
		return policy.Input{}, err
	}
	var args any
	if e.Args != nil {
		if err := json.Unmarshal(e.Args, &args); err != nil {
			return policy.Input{}, fmt.Errorf("%w: recorded arguments: %v", ErrInput, err)
		}
	}
	return policy.Input{Identity: c, Args: args, Request: policy.Request{Time: e.Time, SessionID: e.SessionID,
		PromptID: e.PromptID, TraceID: e.TraceID, CallID: e.CallID}}, nil
}

// entitled counts the (identity, tool) pairs that may be allowed.
func entitled(ctx context.Context, set *policy.Set, u *Usage, tools []policy.Tool) (int, error) {
	ps := newPrograms(set)
	n := 0
	for _, iu := range u.sortedIDs() {
		c, err := Claims(iu.latest)
		if err != nil {
			return 0, err
		}
		may, err := ps.whatCan(ctx, c, tools)
		if err != nil {
			return 0, err
		}
		n += len(may)
	}
	return n, nil
}
