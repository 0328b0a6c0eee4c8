package tools

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
)

// Session-aware calls. With a [SessionStore] configured (Options.Sessions),
// every call that policy allows and that is about to run is recorded in its
// session and its principal's history, with the labels its output carries
// (the tool's OutputLabels and the permits' add_labels), before the tool runs:
// no output can be acted on before its labels count. A call whose rules read
// history (policy.Program.Reads, decided at compile time) loads both
// histories in one store read, decides, and records its call only if neither
// changed meanwhile; otherwise it reads and decides again (up to
// maxSessionRetries times, then it is denied). So two concurrent calls in one
// session never both pass on the same stale count or label set: the second
// is decided on a history that holds the first.

// maxSessionRetries bounds how often a call is decided again after its
// session changed under it.
const maxSessionRetries = 8

// principalOf is the key of the history the CEL variable history reads: the
// token's agent when it names one, its subject otherwise, with the issuer, so
// that a model cannot launder labels by starting a new session.
func principalOf(c *identity.Claims) string {
	if c.Agent != "" {
		return "agent:" + url.QueryEscape(c.Agent) + "@" + c.Issuer
	}
	return "sub:" + url.QueryEscape(c.Subject) + "@" + c.Issuer
}

// decideInSession decides the call, with its histories when its rules read
// them, and records it in the store when it is allowed and about to run.
func (g *Guard[In, Out]) decideInSession(ctx context.Context, prog *policy.Program, claims *identity.Claims, c *call, pin policy.Input) (base, d policy.Decision, cands []elevated, why []string, de *DeniedError) {
	store := g.e.opts.Sessions
	if store == nil {
		base = prog.Decide(ctx, pin)
		d, cands, why = g.elevate(ctx, prog, claims, c, pin, base)
		return base, d, cands, why, nil
	}
	reads, shadow := prog.Reads()
	key := SessionKey{Session: c.req.SessionID, Principal: principalOf(claims)}
	for attempt := 0; ; attempt++ {
		var st *sessionState
		if reads.Any() || shadow.Any() {
			if st, de = g.loadHistory(ctx, store, key, reads, shadow, c, &pin); de != nil {
				return base, d, nil, nil, de
			}
		}
		base = prog.Decide(ctx, pin)
		d, cands, why = g.elevate(ctx, prog, claims, c, pin, base)
		c.ev.History = st.record(pin)
		if !d.Allowed || (d.Obligations.Approval && len(cands) == 0) {
			return base, d, cands, why, nil // nothing runs: nothing is recorded
		}
		labels := g.outputLabels(d)
		ev := SessionEvent{Time: c.start, Tool: g.tool.Name, Labels: labels, Approved: len(cands) > 0}
		var check *SessionSnapshot
		if reads.Any() {
			check = &st.snap
		}
		err := store.Append(ctx, key, ev, check)
		switch {
		case err == nil:
			c.ev.Labels = labels
			return base, d, cands, why, nil
		case errors.Is(err, ErrSessionConflict) && attempt < maxSessionRetries:
			continue
		case errors.Is(err, ErrSessionConflict):
			return base, d, nil, nil, newDenial(CodeSessionConflict, err, "the session changed during the decision; try again",
				fmt.Sprintf("session changed under the call %d times", attempt+1))
		case reads.Any() || len(labels) > 0:
			// What the rules read could not be made to hold, or the output's
			// labels could not be recorded: the output is not handed over.
			return base, d, nil, nil, newDenial(CodeSessionUnavailable, err, "session history is unavailable", "session store: "+err.Error())
		default:
			// Nothing read, nothing labelled: the call goes ahead; only its
			// count is missing from the history.
			return base, d, cands, why, nil
		}
	}
}

// loadHistory reads the histories the rules need (one store read) into pin.
// A failure denies when enforced rules read them; shadow rules alone get no
// history, so they fail (and report it) without changing the decision.
func (g *Guard[In, Out]) loadHistory(ctx context.Context, store SessionStore, key SessionKey, reads, shadow policy.Reads, c *call, pin *policy.Input) (*sessionState, *DeniedError) {
	all := reads.Or(shadow)
	var lk SessionKey
	if all.Session {
		lk.Session = key.Session
	}
	if all.Principal {
		lk.Principal = key.Principal
	}
	if reads.Session && key.Session == "" {
		return nil, newDenial(CodeSessionRequired, nil, "this call needs a session",
			"a rule reads the session, but the call names none (tools.WithCall)")
	}
	snap, err := store.Load(ctx, lk)
	switch {
	case err == nil:
	case !reads.Any():
		return nil, nil
	case errors.Is(err, ErrHistoryLost):
		return nil, newDenial(CodeHistoryLost, err, "session history is incomplete", "history lost: "+err.Error())
	default:
		return nil, newDenial(CodeSessionUnavailable, err, "session history is unavailable", "session store: "+err.Error())
	}
	st := &sessionState{snap: snap}
	if lk.Session != "" {
		st.sess.Reset(&st.snap.Session, c.req.Time)
		pin.Session = &st.sess
	}
	if lk.Principal != "" {
		st.prin.Reset(&st.snap.Principal, c.req.Time)
		pin.Principal = &st.prin
	}
	return st, nil
}

// sessionState is what one decision read of its histories, and the audit
// record of it, in one allocation.
type sessionState struct {
	snap       SessionSnapshot
	sess, prin policy.History
	use        audit.HistoryUse
	sf, pf     audit.HistoryFacts
	facts      [4]audit.HistoryFact
}

// outputLabels are the labels the call's output carries.
func (g *Guard[In, Out]) outputLabels(d policy.Decision) []string {
	if len(d.Obligations.Labels) == 0 {
		return g.tool.OutputLabels
	}
	out := slices.Clone(g.tool.OutputLabels)
	for _, l := range d.Obligations.Labels {
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

// record is the audit record of what the decision read: nil when it read
// nothing.
func (st *sessionState) record(pin policy.Input) *audit.HistoryUse {
	if st == nil || (pin.Session == nil && pin.Principal == nil) {
		return nil
	}
	facts := st.facts[:0]
	st.use = audit.HistoryUse{}
	if h := pin.Session; h != nil {
		st.sf, facts = historyFacts(h, facts)
		st.use.Session = &st.sf
	}
	if h := pin.Principal; h != nil {
		st.pf, _ = historyFacts(h, facts)
		st.use.Principal = &st.pf
	}
	return &st.use
}

// historyFacts is h as recorded; its facts are appended to buf and the
// record's Facts is the part appended.
func historyFacts(h *policy.History, buf []audit.HistoryFact) (audit.HistoryFacts, []audit.HistoryFact) {
	n := len(buf)
	for _, x := range h.Facts() {
		buf = append(buf, audit.HistoryFact{Func: x.Func, Arg: x.Arg, Window: x.Window, Value: x.Value})
	}
	f := audit.HistoryFacts{ID: h.ID, Labels: h.Labels, Calls: h.Calls, Age: h.Age}
	if len(buf) > n {
		f.Facts = buf[n:len(buf):len(buf)]
	}
	return f, buf
}

// Label records that content carrying labels entered the model's context in
// session outside any tool (a user upload, a retrieved web page), so that
// rules reading the session (and its principal's history) see them. It
// returns once they are recorded. It needs Options.Sessions.
func (e *Enforcer) Label(ctx context.Context, session string, labels ...string) error {
	if err := e.ready(); err != nil {
		return err
	}
	if e.opts.Sessions == nil {
		return fmt.Errorf("tools: Label: %w: no session store (Options.Sessions)", ErrSessionStore)
	}
	if session == "" {
		return fmt.Errorf("tools: Label: %w", ErrNoSession)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	if slices.Contains(labels, "") {
		return errors.New("tools: Label: empty label")
	}
	ev := SessionEvent{Time: e.now(), Labels: slices.Clone(labels)}
	if err := e.opts.Sessions.Append(ctx, SessionKey{Session: session}, ev, nil); err != nil {
		return fmt.Errorf("tools: Label: %w: %w", ErrSessionStore, err)
	}
	return nil
}

// checkReads refuses a program whose rules read history when there is no
// store to read it from: an error at start-up, not a deny on every call.
func (e *Enforcer) checkReads(p *policy.Program) error {
	r, sh := p.Reads()
	if e.opts.Sessions == nil && r.Or(sh).Any() {
		return fmt.Errorf("tools: rules covering %s read session history, but Options.Sessions is nil", p.Tool().Name)
	}
	return nil
}
