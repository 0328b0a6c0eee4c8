package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/modelguard/modelguard/audit"
)

const auditQueryAbout = `Query prints, in log order, the events of LOG that match every filter given,
as a timeline: what an agent saw and did in a session, which prompt led to
each call and which rule allowed or denied it. The table shows one line per
event; -json prints the events themselves, one JSON object a line.

-since and -until take an RFC 3339 time (2026-11-26T12:00:00Z) or a duration
back from now (90m).`

// queryFlags are the filters of "audit query".
type queryFlags struct {
	f            audit.Filter
	since, until string
	asJSON       bool
}

func (q *queryFlags) register(fset *flag.FlagSet) {
	for _, s := range []struct {
		p          *string
		name, help string
	}{
		{&q.f.Subject, "subject", "identity subject (sub)"},
		{&q.f.Agent, "agent", "agent id (gen_ai.agent.id)"},
		{&q.f.Model, "model", "model name (gen_ai.request.model)"},
		{&q.f.Tenant, "tenant", "tenant"},
		{&q.f.Tool, "tool", "tool name"},
		{&q.f.Decision, "decision", "allow or deny"},
		{&q.f.Rule, "rule", "a rule id that decided"},
		{&q.f.Session, "session", "conversation id (gen_ai.conversation.id)"},
		{&q.f.Prompt, "prompt", "prompt id"},
		{&q.f.Call, "call", "tool call id"},
	} {
		fset.StringVar(s.p, s.name, "", "only events with this "+s.help)
	}
	fset.StringVar(&q.since, "since", "", "only events at or after `TIME`")
	fset.StringVar(&q.until, "until", "", "only events before `TIME`")
	fset.BoolVar(&q.asJSON, "json", false, "print events as JSON lines")
}

func runAuditQuery(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("modelguard audit query", "[filters] [-json] LOG", auditQueryAbout)
	var q queryFlags
	q.register(fset)
	pos, code, ok := parseFlags(fset, args, stdout, stderr)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		return usageError(fset, stderr, "want exactly one LOG")
	}
	var err error
	now := time.Now()
	if q.f.Since, err = parseWhen(q.since, now); err != nil {
		return usageError(fset, stderr, "-since: %v", err)
	}
	if q.f.Until, err = parseWhen(q.until, now); err != nil {
		return usageError(fset, stderr, "-until: %v", err)
	}
	l, err := audit.OpenLog(pos[0])
	if err != nil {
		return fail(stderr, fset.Name(), err)
	}
	p := newTimeline(stdout, q.asJSON)
	if err := l.Query(q.f, p.print); err != nil {
		return fail(stderr, fset.Name(), err)
	}
	p.flush(stderr)
	return exitOK
}

// parseWhen parses an RFC 3339 time or a duration back from now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

// timeline prints events as a table or as JSON lines.
type timeline struct {
	tw     *tabwriter.Writer
	enc    *json.Encoder
	events int
}

func newTimeline(w io.Writer, asJSON bool) *timeline {
	if asJSON {
		return &timeline{enc: json.NewEncoder(w)}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tSEQ\tSESSION\tPROMPT\tCALL\tAGENT\tTOOL\tPHASE\tDECISION\tRULES\tOUTCOME\tOUTPUT")
	return &timeline{tw: tw}
}

func (t *timeline) print(e audit.Event) error {
	t.events++
	if t.enc != nil {
		return t.enc.Encode(e)
	}
	decision := e.Decision
	if e.Code != "" {
		decision += " (" + e.Code + ")"
	}
	outcome := e.Outcome
	if e.ErrorType != "" && e.Outcome != audit.OutcomeDenied {
		outcome += " (" + e.ErrorType + ")"
	}
	_, err := fmt.Fprintf(t.tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
		e.Time.UTC().Format(time.RFC3339Nano), e.Seq, dash(e.SessionID), dash(e.PromptID), dash(e.CallID),
		dash(e.Identity.Agent), dash(e.Tool), e.Phase, dash(decision), dash(strings.Join(e.Rules, ",")),
		dash(outcome), dash(short(e.OutputDigest)))
	return err
}

func (t *timeline) flush(stderr io.Writer) {
	if t.tw != nil {
		t.tw.Flush()
	}
	fmt.Fprintf(stderr, "%d %s\n", t.events, plural(t.events, "event"))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// short abbreviates a digest for the table; -json has it whole.
func short(digest string) string {
	if len(digest) > len(audit.DigestPrefix)+12 {
		return digest[:len(audit.DigestPrefix)+12] + "…"
	}
	return digest
}
