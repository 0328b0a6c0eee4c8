package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"

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
		{&q.f.Subject, "subject", "this identity subject (sub)"},
		{&q.f.Agent, "agent", "this agent id (gen_ai.agent.id)"},
		{&q.f.Model, "model", "this model name (gen_ai.request.model)"},
		{&q.f.Tenant, "tenant", "this tenant"},
		{&q.f.Tool, "tool", "this tool name"},
		{&q.f.Decision, "decision", "this decision: allow or deny"},
		{&q.f.Rule, "rule", "this rule id among the rules that decided"},
		{&q.f.Session, "session", "this conversation id (gen_ai.conversation.id)"},
		{&q.f.Prompt, "prompt", "this prompt id"},
		{&q.f.Call, "call", "this tool call id"},
	} {
		fset.StringVar(s.p, s.name, "", "only events with "+s.help)
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
	fmt.Fprintln(tw, "TIME\tSEQ\tSESSION\tPROMPT\tCALL\tAGENT\tTOOL\tPHASE\tDECISION\tRULES\tOUTCOME\tOUTPUT\tREASON")
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
	_, err := fmt.Fprintf(t.tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
		e.Time.UTC().Format(time.RFC3339Nano), e.Seq, dash(e.SessionID), dash(e.PromptID), dash(e.CallID),
		dash(e.Identity.Agent), dash(e.Tool), dash(string(e.Phase)), dash(decision), dash(strings.Join(e.Rules, ",")),
		dash(outcome), dash(short(e.OutputDigest)), dash(strings.Join(e.Reasons, "; ")))
	return err
}

func (t *timeline) flush(stderr io.Writer) {
	if t.tw != nil {
		t.tw.Flush()
	}
	fmt.Fprintf(stderr, "%d %s\n", t.events, plural(t.events, "event"))
}

// dash is a table cell: "-" for nothing, and every field escaped, since the log
// holds what models and callers sent (a tool name with no token behind it): a
// control character, an ANSI escape, a tab, CR, a line or paragraph separator,
// a bidirectional override or invalid UTF-8 is written as a Go escape, so no
// record can paint forged rows or colours on an investigator's terminal.
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return cell(s)
}

func cell(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\':
			b.WriteString(`\\`)
		case !unicode.IsPrint(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

// short abbreviates a digest for the table; -json has it whole.
func short(digest string) string {
	if len(digest) > len(audit.DigestPrefix)+12 {
		return digest[:len(audit.DigestPrefix)+12] + "…"
	}
	return digest
}
