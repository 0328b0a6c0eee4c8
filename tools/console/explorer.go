package console

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/modelguard/modelguard/audit"
)

// Bounds of the explorer's pages: a search shows the most recent maxResults
// matches; a session timeline proves at most maxProofs records (each proof
// reads the log once).
const (
	maxResults = 500
	maxProofs  = 500
)

// record is one audit event as a page shows it, with whether it is proven.
type record struct {
	audit.Event
	Verified   bool
	Proof      string // why it is or is not proven
	ArgsPretty string
	OutPretty  string
}

type explorerView struct {
	view
	Query   map[string]string
	Records []record
	More    bool
	// Searched: the search form was submitted (an empty result says so).
	Searched bool
	Session  string
	People   []identityRow
}

// filterOf reads the search form into an audit filter; a bad time is an
// error.
func filterOf(r *http.Request) (audit.Filter, map[string]string, error) {
	q := map[string]string{}
	for _, k := range []string{"agent", "subject", "tool", "session", "prompt", "decision", "since", "until"} {
		q[k] = strings.TrimSpace(r.URL.Query().Get(k))
	}
	f := audit.Filter{Agent: q["agent"], Subject: q["subject"], Tool: q["tool"], Session: q["session"],
		Prompt: q["prompt"], Decision: q["decision"]}
	var err error
	if f.Since, err = parseTime(q["since"]); err != nil {
		return f, q, err
	}
	f.Until, err = parseTime(q["until"])
	return f, q, err
}

// parseTime accepts RFC 3339 or the form of an HTML datetime-local input (UTC).
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: use RFC 3339 (2026-12-02T10:00:00Z)", s)
}

// log reopens the configured log, so that segments rotated since the
// console started are read too; if that fails it reads the log as opened.
func (h *Handler) log() *audit.Log {
	if segs := h.cfg.Log.Segments(); len(segs) > 0 {
		if l, err := audit.OpenLog(segs[len(segs)-1]); err == nil {
			return l
		}
	}
	return h.cfg.Log
}

// query returns the most recent maxResults events f matches, in log order, and
// whether there were more.
func (h *Handler) query(l *audit.Log, f audit.Filter) ([]audit.Event, bool, error) {
	var out []audit.Event
	more := false
	err := l.Query(f, func(e audit.Event) error {
		if len(out) == maxResults {
			out, more = out[1:], true
		}
		out = append(out, e)
		return nil
	})
	return out, more, err
}

// search serves GET /sessions: the search form and its results.
func (h *Handler) search(w http.ResponseWriter, r *http.Request) {
	v := explorerView{view: h.viewOf(userOf(r))}
	f, q, err := filterOf(r)
	v.Query = q
	if err != nil {
		v.Error = err.Error()
		w.WriteHeader(http.StatusBadRequest)
		h.render(w, "sessions.html", v)
		return
	}
	if v.Searched = r.URL.RawQuery != ""; v.Searched {
		evs, more, err := h.query(h.log(), f)
		if err != nil {
			http.Error(w, "audit log unreadable", http.StatusServiceUnavailable)
			return
		}
		v.More = more
		for _, e := range evs {
			v.Records = append(v.Records, record{Event: e})
		}
	}
	h.render(w, "sessions.html", v)
}

// session serves GET /sessions/{id}: the timeline of one session, each
// record proven against the log's latest signed checkpoint.
func (h *Handler) session(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	l := h.log()
	evs, more, err := h.query(l, audit.Filter{Session: id})
	if err != nil {
		http.Error(w, "audit log unreadable", http.StatusServiceUnavailable)
		return
	}
	v := explorerView{view: h.viewOf(userOf(r)), Session: id, More: more}
	pr := h.prover(l)
	defer pr.close()
	for i, e := range evs {
		rec := record{Event: e, Proof: "not checked: over the page's limit of proofs"}
		if i < maxProofs {
			rec = pr.prove(e)
		}
		rec.ArgsPretty, rec.OutPretty = prettyOpt(rec.Args), prettyOpt(rec.Output)
		v.Records = append(v.Records, rec)
	}
	h.render(w, "session.html", v)
}

func prettyOpt(raw []byte) string {
	if len(raw) == 0 {
		return ""
	}
	return pretty(raw)
}

// identityRow is one model identity seen in the log.
type identityRow struct {
	audit.Identity
	LastSeen      time.Time
	Calls, Denied int
	Tools         []string
	// With Config.Policy: what the policy lets the identity call.
	Analysed      bool
	MayDo         []mayDo
	AnalysisError string
}

// identityKey is what tells two identities apart: issuer, subject, agent,
// tenant and model.
func identityKey(id *audit.Identity) string {
	return strings.Join([]string{id.Issuer, id.Subject, id.Agent, id.Tenant, id.ModelProvider, id.ModelName, id.ModelVersion}, "\x00")
}

// identities serves GET /identities: each identity that made a guarded call,
// most recently seen first.
func (h *Handler) identities(w http.ResponseWriter, r *http.Request) {
	rows := map[string]*identityRow{}
	err := h.log().Events(func(e audit.Event) error {
		if e.Phase != audit.PhaseDecision || e.Identity.Subject == "" {
			return nil
		}
		k := identityKey(&e.Identity)
		row := rows[k]
		if row == nil {
			row = &identityRow{Identity: e.Identity}
			rows[k] = row
		}
		row.Calls++
		if e.Decision == audit.Deny {
			row.Denied++
		}
		if e.Time.After(row.LastSeen) {
			row.LastSeen, row.Act = e.Time, e.Identity.Act
		}
		if e.Tool != "" && !slices.Contains(row.Tools, e.Tool) && len(row.Tools) < 50 {
			row.Tools = append(row.Tools, e.Tool)
		}
		return nil
	})
	if err != nil {
		http.Error(w, "audit log unreadable", http.StatusServiceUnavailable)
		return
	}
	v := explorerView{view: h.viewOf(userOf(r))}
	for _, row := range rows {
		slices.Sort(row.Tools)
		v.People = append(v.People, *row)
	}
	slices.SortFunc(v.People, func(a, b identityRow) int { return b.LastSeen.Compare(a.LastSeen) })
	h.analyse(r.Context(), v.People)
	h.render(w, "identities.html", v)
}
