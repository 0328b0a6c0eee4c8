package audit

import (
	"slices"
	"time"
)

// Filter selects events. Every field set must match; the zero Filter matches
// every event. Text fields match exactly.
type Filter struct {
	Subject  string // identity.sub
	Agent    string // gen_ai.agent.id
	Model    string // gen_ai.request.model
	Tenant   string
	Tool     string // gen_ai.tool.name
	Decision string // Allow or Deny
	Rule     string // one of the event's rules
	Session  string // gen_ai.conversation.id
	Prompt   string // prompt.id
	Call     string // gen_ai.tool.call.id
	// Since and Until bound the event's time: Since <= Time < Until.
	Since, Until time.Time
}

// Match reports whether e passes the filter.
func (f *Filter) Match(e *Event) bool {
	id := &e.Identity
	return eq(f.Subject, id.Subject) && eq(f.Agent, id.Agent) && eq(f.Model, id.ModelName) &&
		eq(f.Tenant, id.Tenant) && eq(f.Tool, e.Tool) && eq(f.Decision, e.Decision) &&
		eq(f.Session, e.SessionID) && eq(f.Prompt, e.PromptID) && eq(f.Call, e.CallID) &&
		(f.Rule == "" || slices.Contains(e.Rules, f.Rule)) &&
		(f.Since.IsZero() || !e.Time.Before(f.Since)) &&
		(f.Until.IsZero() || e.Time.Before(f.Until))
}

func eq(want, got string) bool { return want == "" || want == got }

// Query calls fn, in log order, with every event of the log that f matches.
func (l *Log) Query(f Filter, fn func(Event) error) error {
	return l.Events(func(e Event) error {
		if !f.Match(&e) {
			return nil
		}
		return fn(e)
	})
}
