package policy

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// Session-aware policy: what came before a call, as two CEL variables of one
// type, modelguard.History:
//
//   - session: the call's session (the session id the application sets, or the
//     MCP session);
//   - history: the calling principal (its agent, or its subject when the token
//     names no agent) across all its sessions.
//
// Fields: id (string), labels (list of string: every label seen), calls (int:
// calls recorded), age (duration since the first event). Functions, each with
// an optional window (a duration looking back from request.time):
//
//	h.count(glob) / h.count(glob, window)       int: calls to tools matching glob
//	h.seen(label) / h.seen(label, window)       bool: a label was seen
//	h.approved(glob) / h.approved(glob, window) bool: a matching call ran under an approval grant
//
// A function that would need events the store no longer keeps (a window
// reaching before the history's horizon) fails, and a failing rule denies: a
// store's retention never turns a deny into an allow.

// HistoryEvent is one fact of a history: a call to Tool at Time whose output
// carried Labels (Approved: it ran under an approval grant) or, with Tool
// empty, content the application labelled.
type HistoryEvent struct {
	Time     time.Time
	Tool     string
	Labels   []string
	Approved bool
}

// HistoryState is a history as a store holds it. Its slices are read, never
// written, by policy.
type HistoryState struct {
	ID string
	// Labels are the distinct labels ever seen, in first-seen order; LastSeen,
	// when not nil, holds when each was last seen (same order).
	Labels   []string
	LastSeen []time.Time
	// Events are the events kept, oldest first.
	Events []HistoryEvent
	// Horizon: events before it are no longer kept (zero: none was dropped).
	Horizon time.Time
	// First is the time of the first event ever (zero: none).
	First time.Time
	// Calls counts every call ever recorded, kept or not.
	Calls int64
}

// History is what one decision sees of a session or a principal: the CEL
// variables session and history. Build it with [NewHistory] (from a store) or
// [ReplayHistory] (from recorded facts). It notes every fact a decision reads
// ([History.Facts]) for the audit record; it belongs to one call and is not
// safe for concurrent use.
type History struct {
	ID     string        `cel:"id"`
	Labels []string      `cel:"labels"`
	Calls  int64         `cel:"calls"`
	Age    time.Duration `cel:"age"`

	st    *HistoryState
	now   time.Time
	memo  map[factKey]any // replay: the recorded results
	facts []Fact
	buf   [4]Fact
}

// Fact is one function result a decision read from a history: Func
// ("count", "seen" or "approved") called with Arg (and Window, when the call
// gave one) returned Value (an int64 or a bool). For example
// session.count("payments.initiate") read 2: {count payments.initiate 0 2}.
type Fact struct {
	Func   string        `json:"func"`
	Arg    string        `json:"arg"`
	Window time.Duration `json:"window_ns,omitempty"`
	Value  any           `json:"value"`
}

// String is the call as a rule writes it, with its result.
func (f Fact) String() string { return f.call() + " = " + fmt.Sprint(f.Value) }

func (f Fact) call() string {
	if f.Window > 0 {
		return fmt.Sprintf("%s(%q, duration(%q))", f.Func, f.Arg, f.Window.String())
	}
	return fmt.Sprintf("%s(%q)", f.Func, f.Arg)
}

type factKey struct {
	fn, arg string
	window  time.Duration
}

// NewHistory returns the view of st as of now (request.time).
func NewHistory(st *HistoryState, now time.Time) *History {
	h := new(History)
	h.Reset(st, now)
	return h
}

// Reset makes h the view of st as of now, as [NewHistory] does, reusing h.
func (h *History) Reset(st *HistoryState, now time.Time) {
	if h == nil {
		return
	}
	if st == nil {
		st = &HistoryState{}
	}
	*h = History{ID: st.ID, Labels: st.Labels, Calls: st.Calls, st: st, now: now}
	h.facts = h.buf[:0]
	if !st.First.IsZero() && now.After(st.First) {
		h.Age = now.Sub(st.First)
	}
	if h.Labels == nil {
		h.Labels = []string{}
	}
}

// ReplayHistory returns a history that answers from recorded facts only (see
// [History.Facts]): what an audit record holds, for replay and explain. A
// function whose result was not recorded fails, so its rule denies and the
// replay reports it.
func ReplayHistory(id string, labels []string, calls int64, age time.Duration, facts []Fact) *History {
	h := &History{ID: id, Labels: slices.Clone(labels), Calls: calls, Age: age, memo: map[factKey]any{}}
	if h.Labels == nil {
		h.Labels = []string{}
	}
	for _, f := range facts {
		h.memo[factKey{f.Func, f.Arg, f.Window}] = f.Value
	}
	return h
}

// Facts returns the function results decisions read from h, in the order first
// read.
func (h *History) Facts() []Fact {
	if h == nil {
		return nil
	}
	return h.facts
}

func (h *History) note(k factKey, v any) {
	for _, f := range h.facts {
		if f.Func == k.fn && f.Arg == k.arg && f.Window == k.window {
			return
		}
	}
	h.facts = append(h.facts, Fact{Func: k.fn, Arg: k.arg, Window: k.window, Value: v})
}

const historyType = "modelguard.History"

// historyFuncs declares the functions on modelguard.History.
func historyFuncs() []cel.EnvOption {
	ht := cel.ObjectType(historyType)
	fn := func(name string, out *cel.Type, f func(h *History, key string, window time.Duration, windowed bool) ref.Val) cel.EnvOption {
		return cel.Function(name,
			cel.MemberOverload("history_"+name+"_string", []*cel.Type{ht, cel.StringType}, out,
				cel.BinaryBinding(func(lhs, rhs ref.Val) ref.Val {
					h, key, err := historyArgs(lhs, rhs)
					if err != nil {
						return types.NewErrFromString(err.Error())
					}
					return f(h, key, 0, false)
				})),
			cel.MemberOverload("history_"+name+"_string_duration", []*cel.Type{ht, cel.StringType, cel.DurationType}, out,
				cel.FunctionBinding(func(args ...ref.Val) ref.Val {
					h, key, err := historyArgs(args[0], args[1])
					if err != nil {
						return types.NewErrFromString(err.Error())
					}
					d, ok := args[2].(types.Duration)
					if !ok {
						return types.NewErrFromString("window is not a duration")
					}
					return f(h, key, d.Duration, true)
				})))
	}
	return []cel.EnvOption{
		fn("count", cel.IntType, (*History).count),
		fn("seen", cel.BoolType, (*History).seen),
		fn("approved", cel.BoolType, (*History).approved),
	}
}

func historyArgs(lhs, rhs ref.Val) (*History, string, error) {
	h, ok := lhs.Value().(*History)
	if !ok || h == nil {
		return nil, "", fmt.Errorf("not a history")
	}
	s, ok := rhs.(types.String)
	if !ok {
		return nil, "", fmt.Errorf("not a string")
	}
	return h, string(s), nil
}

// eval answers one function: from the memo when replaying, else by scanning
// the events, and notes the fact.
func (h *History) eval(name, key string, window time.Duration, windowed bool, scan func() (any, error)) ref.Val {
	if windowed && window <= 0 {
		return types.NewErrFromString(name + ": window must be positive")
	}
	k := factKey{name, key, window}
	var v any
	if h.memo != nil {
		var ok bool
		if v, ok = h.memo[k]; !ok {
			return types.NewErrFromString("history fact " + (Fact{Func: name, Arg: key, Window: window}).call() + " was not recorded")
		}
		switch n := v.(type) { // JSON numbers come back as float64
		case float64:
			v = int64(n)
		case int:
			v = int64(n)
		}
	} else {
		var err error
		if v, err = scan(); err != nil {
			return types.NewErrFromString(name + "(" + strconv.Quote(key) + "): " + err.Error())
		}
	}
	h.note(k, v)
	switch x := v.(type) {
	case int64:
		return types.Int(x)
	case bool:
		return types.Bool(x)
	}
	return types.NewErrFromString(name + ": recorded value is not of its type")
}

// since is where a scan starts: the window's start, or the whole history; an
// error when that reaches before the horizon.
func (h *History) since(window time.Duration, windowed bool) (time.Time, error) {
	var from time.Time
	if windowed {
		from = h.now.Add(-window)
	}
	if hz := h.st.Horizon; !hz.IsZero() && from.Before(hz) {
		return from, fmt.Errorf("history before %s is no longer kept", hz.UTC().Format(time.RFC3339))
	}
	return from, nil
}

func (h *History) count(glob string, window time.Duration, windowed bool) ref.Val {
	return h.eval("count", glob, window, windowed, func() (any, error) {
		if err := ValidPattern(glob); err != nil {
			return nil, err
		}
		from, err := h.since(window, windowed)
		if err != nil {
			return nil, err
		}
		var n int64
		m := toolMatcher{pat: glob}
		for i := range h.st.Events {
			e := &h.st.Events[i]
			if e.Tool != "" && !e.Time.Before(from) && m.match(e.Tool) {
				n++
			}
		}
		return n, nil
	})
}

func (h *History) approved(glob string, window time.Duration, windowed bool) ref.Val {
	return h.eval("approved", glob, window, windowed, func() (any, error) {
		if err := ValidPattern(glob); err != nil {
			return nil, err
		}
		from, err := h.since(window, windowed)
		if err != nil {
			return nil, err
		}
		m := toolMatcher{pat: glob}
		for i := range h.st.Events {
			e := &h.st.Events[i]
			if e.Approved && e.Tool != "" && !e.Time.Before(from) && m.match(e.Tool) {
				return true, nil
			}
		}
		return false, nil
	})
}

func (h *History) seen(label string, window time.Duration, windowed bool) ref.Val {
	return h.eval("seen", label, window, windowed, func() (any, error) {
		i := slices.Index(h.st.Labels, label)
		if i < 0 || !windowed {
			return i >= 0, nil
		}
		from := h.now.Add(-window)
		if i < len(h.st.LastSeen) {
			return !h.st.LastSeen[i].Before(from), nil
		}
		if _, err := h.since(window, windowed); err != nil {
			return nil, err
		}
		for j := range h.st.Events {
			e := &h.st.Events[j]
			if !e.Time.Before(from) && slices.Contains(e.Labels, label) {
				return true, nil
			}
		}
		return false, nil
	})
}

// toolMatcher matches tool names against one glob, remembering the last
// answer: a history's events mostly repeat a few names.
type toolMatcher struct {
	pat, last string
	ok, has   bool
}

func (m *toolMatcher) match(name string) bool {
	if !m.has || name != m.last {
		m.last, m.ok, m.has = name, MatchTool(m.pat, name), true
	}
	return m.ok
}

// Reads says which histories a program's rules read, decided at compile time:
// a store is consulted only for the tools whose rules need it.
type Reads struct {
	Session   bool // some rule names session
	Principal bool // some rule names history
}

// Any reports whether anything is read.
func (r Reads) Any() bool { return r.Session || r.Principal }

// Or is the union of r and o.
func (r Reads) Or(o Reads) Reads {
	return Reads{Session: r.Session || o.Session, Principal: r.Principal || o.Principal}
}

// readsOf reports which history variables the checked expressions name.
func readsOf(asts ...*cel.Ast) Reads {
	var r Reads
	for _, a := range asts {
		if a == nil {
			continue
		}
		ast.PreOrderVisit(a.NativeRep().Expr(), ast.NewExprVisitor(func(e ast.Expr) {
			if e.Kind() == ast.IdentKind {
				switch e.AsIdent() {
				case varSession:
					r.Session = true
				case varHistory:
					r.Principal = true
				}
			}
		}))
	}
	return r
}

// historyLib declares the functions on modelguard.History.
type historyLib struct{}

func (historyLib) CompileOptions() []cel.EnvOption     { return historyFuncs() }
func (historyLib) ProgramOptions() []cel.ProgramOption { return nil }
