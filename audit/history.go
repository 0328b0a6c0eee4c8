package audit

import "time"

// HistoryUse is what a decision read of session-aware history: the session's
// and the principal's facts, each present only when a rule read it. Replay and
// explain re-decide from it.
type HistoryUse struct {
	Session   *HistoryFacts `json:"session,omitempty"`
	Principal *HistoryFacts `json:"principal,omitempty"`
}

// HistoryFacts is one history as a decision saw it: its fields, and the
// results of the functions the rules called on it.
type HistoryFacts struct {
	ID     string        `json:"id"`
	Labels []string      `json:"labels"`
	Calls  int64         `json:"calls"`
	Age    time.Duration `json:"age_ns"`
	Facts  []HistoryFact `json:"facts,omitempty"`
}

// HistoryFact is one function result a decision read from a history: Func
// ("count", "seen", "approved") of Arg (a tool glob or a label) over Window
// (0: the whole history) was Value (a number or a bool).
type HistoryFact struct {
	Func   string        `json:"func"`
	Arg    string        `json:"arg"`
	Window time.Duration `json:"window_ns,omitempty"`
	Value  any           `json:"value"`
}
