package access

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/modelguard/modelguard/policy"
)

// Report is the compliance report: what the log shows was decided, how, and
// under which controls. It is what [Report.WriteHTML] renders and what the
// JSON form of the report holds.
type Report struct {
	Title         string    `json:"title"`
	Generated     time.Time `json:"generated"`
	Log           string    `json:"log"`
	PolicyVersion string    `json:"policy_version"`
	First         time.Time `json:"first"`
	Last          time.Time `json:"last"`
	Events        int       `json:"events"`
	Decisions     Count     `json:"decisions"`
	// Timeline is decisions over time per agent, in equal buckets.
	Timeline Timeline `json:"timeline"`
	// Denials counts denials by reason code; TopDenied the tools denied most.
	Denials   []Tally `json:"denials"`
	TopDenied []Tally `json:"top_denied"`
	// Approvals counts calls that ran under a human approval, by approver and
	// tool.
	Approvals []Approval `json:"approvals"`
	// Identities and Entitlements are the inventory and the unused findings.
	Identities   []Identity `json:"identities"`
	Entitlements Findings   `json:"entitlements"`
	// Controls maps each control tag seen on a rule or a decision to its
	// framework items and the decisions it governed.
	Controls    []ControlRow `json:"controls"`
	ShadowFlips int          `json:"shadow_would_flip"`
}

// Timeline is decisions per agent in equal time buckets from Start.
type Timeline struct {
	Start  time.Time     `json:"start"`
	Bucket time.Duration `json:"bucket_ns"`
	Series []Series      `json:"series"`
}

// Series is one agent's decisions per bucket.
type Series struct {
	Agent string `json:"agent"`
	Allow []int  `json:"allow"`
	Deny  []int  `json:"deny"`
}

// Tally is a named count.
type Tally struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// Approval counts the calls one approver let run for one tool.
type Approval struct {
	Approver string `json:"approver"`
	Tool     string `json:"tool"`
	Calls    int    `json:"calls"`
}

// ControlRow is one control tag: the framework items it stands for (none when
// the mapping does not know it), the rules that carry it and the decisions it
// governed.
type ControlRow struct {
	Tag       string    `json:"tag"`
	Items     []Control `json:"items"`
	Rules     []string  `json:"rules"`
	Decisions Count     `json:"decisions"`
}

// ReportOptions tune [BuildReport]. The zero value gives the defaults noted.
type ReportOptions struct {
	// Title of the report. Default "modelguard access report".
	Title string
	// Log names the log in the report.
	Log string
	// Now is the report's time. Default time.Now.
	Now time.Time
	// Buckets is how many time buckets the timeline has at most. Default 48.
	Buckets int
	// Mapping maps control tags; default [DefaultMapping].
	Mapping *Mapping
	// Tools are further tools for the entitlement analysis (see [Unused]).
	Tools []policy.Tool
}

// BuildReport builds the report for the usage u under the policy set.
func BuildReport(ctx context.Context, set *policy.Set, u *Usage, opts ReportOptions) (*Report, error) {
	if u == nil || u.ids == nil {
		return nil, fmt.Errorf("%w: BuildReport needs a Usage from ReadUsage", ErrInput)
	}
	if opts.Title == "" {
		opts.Title = "modelguard access report"
	}
	if opts.Now.IsZero() {
		opts.Now = time.Now()
	}
	if opts.Mapping == nil {
		opts.Mapping = DefaultMapping()
	}
	f, err := Unused(ctx, set, u, mergeLabels(Tools(set), opts.Tools), UnusedOptions{})
	if err != nil {
		return nil, err
	}
	r := &Report{Title: opts.Title, Generated: opts.Now.UTC(), Log: opts.Log, PolicyVersion: set.Version(),
		First: u.first, Last: u.last, Events: u.events, Timeline: u.timeline(opts.Buckets),
		Denials: tallies(u.codes, 0), TopDenied: topDenied(u.tools, 10), Approvals: u.approvalList(),
		Identities: u.Inventory(InventoryOptions{Now: opts.Now}), Entitlements: f,
		Controls: u.controlRows(set, opts.Mapping), ShadowFlips: u.shadowFlips}
	for _, iu := range u.ids {
		r.Decisions.Allow += iu.count.Allow
		r.Decisions.Deny += iu.count.Deny
	}
	return r, nil
}

func (u *Usage) timeline(buckets int) Timeline {
	if buckets <= 0 {
		buckets = 48
	}
	start := u.first.Truncate(time.Minute)
	span := u.last.Sub(start) + time.Minute // the last decision's minute counts
	size := (span + time.Duration(buckets) - 1) / time.Duration(buckets)
	size = (size + time.Minute - 1) / time.Minute * time.Minute
	n := int((span + size - 1) / size)
	t := Timeline{Start: start, Bucket: size, Series: []Series{}}
	for _, agent := range slices.Sorted(maps.Keys(u.perMinute)) {
		s := Series{Agent: agent, Allow: make([]int, n), Deny: make([]int, n)}
		for minute, c := range u.perMinute[agent] {
			i := int(time.Unix(minute*60, 0).Sub(start) / size)
			if i >= 0 && i < n {
				s.Allow[i] += c.Allow
				s.Deny[i] += c.Deny
			}
		}
		t.Series = append(t.Series, s)
	}
	return t
}

// tallies sorts counts, largest first (then by name); top > 0 keeps that many.
func tallies(m map[string]int, top int) []Tally {
	out := make([]Tally, 0, len(m))
	for k, v := range m {
		out = append(out, Tally{Name: k, Count: v})
	}
	slices.SortFunc(out, func(a, b Tally) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Name, b.Name)
	})
	if top > 0 && len(out) > top {
		out = out[:top]
	}
	return out
}

func topDenied(tools map[string]*Count, top int) []Tally {
	m := map[string]int{}
	for k, c := range tools {
		if c.Deny > 0 {
			m[k] = c.Deny
		}
	}
	return tallies(m, top)
}

func (u *Usage) approvalList() []Approval {
	out := []Approval{}
	for k, n := range u.approvals {
		out = append(out, Approval{Approver: k[0], Tool: k[1], Calls: n})
	}
	slices.SortFunc(out, func(a, b Approval) int {
		return strings.Compare(a.Approver+"\x00"+a.Tool, b.Approver+"\x00"+b.Tool)
	})
	return out
}

// controlRows lists every tag carried by a rule of the set or by a decision.
func (u *Usage) controlRows(set *policy.Set, m *Mapping) []ControlRow {
	rules := map[string][]string{}
	for _, r := range set.Rules() {
		for _, c := range r.Controls {
			rules[c] = append(rules[c], r.ID)
		}
	}
	tags := slices.Sorted(maps.Keys(rules))
	for t := range u.controls {
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	slices.Sort(tags)
	out := make([]ControlRow, 0, len(tags))
	for _, t := range tags {
		row := ControlRow{Tag: t, Items: m.Lookup(t), Rules: rules[t]}
		if row.Items == nil {
			row.Items = []Control{}
		}
		if row.Rules == nil {
			row.Rules = []string{}
		}
		if c := u.controls[t]; c != nil {
			row.Decisions = *c
		}
		out = append(out, row)
	}
	return out
}
