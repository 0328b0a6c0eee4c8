package access

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/modelguard/modelguard/audit"
)

// Count tallies decisions.
type Count struct {
	Allow int `json:"allow"`
	Deny  int `json:"deny"`
}

// Total is Allow + Deny.
func (c Count) Total() int { return c.Allow + c.Deny }

func (c *Count) add(allowed bool) {
	if allowed {
		c.Allow++
	} else {
		c.Deny++
	}
}

// Key names a model identity in an audit log: the claims a guard records that
// say who called, without those that change from token to token.
type Key struct {
	Issuer  string `json:"iss,omitempty"`
	Subject string `json:"sub,omitempty"`
	Agent   string `json:"agent,omitempty"`
	Tenant  string `json:"tenant,omitempty"`
	Env     string `json:"env,omitempty"`
}

func (k Key) String() string {
	parts := []string{k.Subject}
	if k.Agent != "" {
		parts = append(parts, "agent="+k.Agent)
	}
	if k.Tenant != "" {
		parts = append(parts, "tenant="+k.Tenant)
	}
	if k.Env != "" {
		parts = append(parts, "env="+k.Env)
	}
	if k.Issuer != "" {
		parts = append(parts, "iss="+k.Issuer)
	}
	return strings.Join(parts, " ")
}

// identityUse is what the log shows of one identity.
type identityUse struct {
	key         Key
	first, last time.Time
	count       Count
	tools       map[string]*Count
	models      map[string]bool
	scopes      map[string]bool
	tokens      map[string]bool
	latest      audit.Identity // the claims of the last decision, to re-decide with
}

// Usage is what an audit log shows was used, built by adding its events in log
// order with [Usage.Add] (or [ReadUsage]). It keeps counts, not events, so a log
// of millions of records fits in little memory. The zero value is not usable:
// make one with [NewUsage]. A Usage is not safe for concurrent use.
type Usage struct {
	// Since and Until bound the events counted (Since <= time < Until); zero
	// means unbounded. Set them before adding events.
	Since, Until time.Time

	events, decisions int
	first, last       time.Time
	ids               map[Key]*identityUse
	rulesAllow        map[string]int // permit rules that let calls through
	rulesDeny         map[string]int // rules that denied calls
	ruleLast          map[string]time.Time
	tools             map[string]*Count
	codes             map[string]int // denial reason codes
	controls          map[string]*Count
	approvals         map[[2]string]int // approver, tool
	shadowFlips       int
	perMinute         map[string]map[int64]*Count // agent → minute → decisions
	argMax            map[string]map[string]float64
	policyVersions    map[string]int
}

// NewUsage returns an empty Usage.
func NewUsage() *Usage {
	return &Usage{ids: map[Key]*identityUse{}, rulesAllow: map[string]int{}, rulesDeny: map[string]int{},
		ruleLast: map[string]time.Time{}, tools: map[string]*Count{}, codes: map[string]int{},
		controls: map[string]*Count{}, approvals: map[[2]string]int{}, perMinute: map[string]map[int64]*Count{},
		argMax: map[string]map[string]float64{}, policyVersions: map[string]int{}}
}

// ReadUsage adds every event of the log to a new Usage bounded by since and
// until (zero: unbounded).
func ReadUsage(log *audit.Log, since, until time.Time) (*Usage, error) {
	u := NewUsage()
	u.Since, u.Until = since, until
	err := eachEvent(log, func(e *audit.Event) error {
		u.Add(e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// Add counts one event. Only decision events count as calls; others count in
// Events only. A nil Usage or event is ignored.
func (u *Usage) Add(e *audit.Event) {
	if u == nil || u.ids == nil || e == nil {
		return
	}
	if !u.within(e) {
		return
	}
	u.events++
	if e.Phase != audit.PhaseDecision {
		return
	}
	u.decisions++
	if u.first.IsZero() || e.Time.Before(u.first) {
		u.first = e.Time
	}
	if e.Time.After(u.last) {
		u.last = e.Time
	}
	allowed := e.Decision == audit.Allow
	u.identity(e).add(e, allowed)
	counter(u.tools, e.Tool).add(allowed)
	for _, c := range e.Controls {
		counter(u.controls, c).add(allowed)
	}
	for _, r := range e.Rules {
		if allowed {
			u.rulesAllow[r]++
		} else {
			u.rulesDeny[r]++
		}
		if e.Time.After(u.ruleLast[r]) {
			u.ruleLast[r] = e.Time
		}
	}
	if !allowed {
		code := e.Code
		if code == "" {
			code = "unspecified"
		}
		u.codes[code]++
	}
	if e.Grant != nil && allowed {
		u.approvals[[2]string{e.Grant.Approver, e.Tool}]++
	}
	if e.WouldFlip {
		u.shadowFlips++
	}
	if e.PolicyVersion != "" {
		u.policyVersions[e.PolicyVersion]++
	}
	m := u.perMinute[e.Identity.Agent]
	if m == nil {
		m = map[int64]*Count{}
		u.perMinute[e.Identity.Agent] = m
	}
	minute := e.Time.Unix() / 60
	if m[minute] == nil {
		m[minute] = &Count{}
	}
	m[minute].add(allowed)
	if allowed && len(e.Args) > 0 {
		u.noteArgs(e.Tool, e.Args)
	}
}

// within reports whether e falls in the window.
func (u *Usage) within(e *audit.Event) bool {
	return (u.Since.IsZero() || !e.Time.Before(u.Since)) && (u.Until.IsZero() || e.Time.Before(u.Until))
}

func counter(m map[string]*Count, k string) *Count {
	c := m[k]
	if c == nil {
		c = &Count{}
		m[k] = c
	}
	return c
}

func (u *Usage) identity(e *audit.Event) *identityUse {
	id := &e.Identity
	k := Key{Issuer: id.Issuer, Subject: id.Subject, Agent: id.Agent, Tenant: id.Tenant, Env: id.Env}
	iu := u.ids[k]
	if iu == nil {
		iu = &identityUse{key: k, first: e.Time, tools: map[string]*Count{}, models: map[string]bool{},
			scopes: map[string]bool{}, tokens: map[string]bool{}}
		u.ids[k] = iu
	}
	return iu
}

func (iu *identityUse) add(e *audit.Event, allowed bool) {
	if e.Time.Before(iu.first) {
		iu.first = e.Time
	}
	if !e.Time.Before(iu.last) {
		iu.last = e.Time
		iu.latest = e.Identity
	}
	iu.count.add(allowed)
	counter(iu.tools, e.Tool).add(allowed)
	id := &e.Identity
	if m := modelName(id); m != "" {
		iu.models[m] = true
	}
	for _, s := range id.Scopes {
		iu.scopes[s] = true
	}
	if id.TokenID != "" {
		iu.tokens[id.TokenID] = true
	}
}

func modelName(id *audit.Identity) string {
	var parts []string
	for _, p := range []string{id.ModelProvider, id.ModelName, id.ModelVersion} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return strings.Join(parts, "/")
}

// noteArgs keeps, per tool, the largest value seen of each top-level numeric
// argument of an allowed call.
func (u *Usage) noteArgs(tool string, raw json.RawMessage) {
	var args map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&args) != nil {
		return
	}
	m := u.argMax[tool]
	for k, v := range args {
		n, ok := v.(json.Number)
		if !ok {
			continue
		}
		f, err := n.Float64()
		if err != nil {
			continue
		}
		if m == nil {
			m = map[string]float64{}
			u.argMax[tool] = m
		}
		if old, seen := m[k]; !seen || f > old {
			m[k] = f
		}
	}
}

// Events is the number of events counted; Decisions the number of decision
// events among them.
func (u *Usage) Events() int { return u.count(func() int { return u.events }) }

// Decisions is the number of decision events counted.
func (u *Usage) Decisions() int { return u.count(func() int { return u.decisions }) }

func (u *Usage) count(f func() int) int {
	if u == nil {
		return 0
	}
	return f()
}

// ToolNames returns the tools called in the log, sorted.
func (u *Usage) ToolNames() []string {
	if u == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(u.tools))
}

// Span returns the times of the first and last decision counted.
func (u *Usage) Span() (first, last time.Time) {
	if u == nil {
		return time.Time{}, time.Time{}
	}
	return u.first, u.last
}

// sortedIDs returns the identities seen, in a stable order.
func (u *Usage) sortedIDs() []*identityUse {
	out := slices.Collect(maps.Values(u.ids))
	slices.SortFunc(out, func(a, b *identityUse) int { return strings.Compare(a.key.String(), b.key.String()) })
	return out
}
