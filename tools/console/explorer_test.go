package console_test

import (
	"bytes"
	"errors"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
	"github.com/modelguard/modelguard/tools/console"
)

// runSession makes the approval sequence in session s: denied
// approval_required, approved once, run, refused again. It returns the
// request id.
func runSession(t *testing.T, f *fixture, s string) string {
	t.Helper()
	p := payment{AmountCents: 4200, Payee: "ACME"}
	_, err := f.callIn(t, "model:fin", s, p)
	var de *tools.DeniedError
	if !errors.As(err, &de) || de.Code != tools.CodeApprovalRequired {
		t.Fatalf("first call: %v", err)
	}
	alice := f.token(t, "alice", approver)
	if code, body := f.do(t, "POST", "/approvals/"+de.Approval.ID+"/approve", alice, url.Values{"csrf": {f.csrf(t, alice)}, "ttl": {"5m"}}); code != http.StatusSeeOther {
		t.Fatalf("approve: %d %s", code, body)
	}
	if _, err := f.callIn(t, "model:fin", s, p); err != nil {
		t.Fatalf("retry: %v", err)
	}
	if _, err := f.callIn(t, "model:fin", s, p); err == nil {
		t.Fatal("second retry ran")
	}
	return de.Approval.ID
}

var recRE = regexp.MustCompile(`<li class="rec" id="rec-(\d+)" data-verified="(true|false)">`)

// The session timeline shows every record of the session, each proven on the
// server against the latest signed checkpoint.
func TestSessionTimelineVerified(t *testing.T) {
	f := newLogFixture(t)
	runSession(t, f, "sess-1")
	runSession(t, f, "sess-2") // another session's records stay out
	if l, err := audit.OpenLog(f.alog.Name()); err != nil || len(l.Segments()) < 3 {
		t.Fatalf("the log did not rotate after the console opened it: %v", err)
	}
	viewer := f.token(t, "victor", map[string]any{"roles": []any{"viewer"}})
	code, body := f.do(t, "GET", "/sessions/sess-1", viewer, nil)
	if code != 200 {
		t.Fatalf("timeline: %d %s", code, body)
	}
	recs := recRE.FindAllStringSubmatch(body, -1)
	// denied decision; allowed decision and its outcome; denied again.
	if len(recs) != 4 {
		t.Fatalf("timeline has %d records, want 4: %s", len(recs), body)
	}
	for _, m := range recs {
		if m[2] != "true" {
			t.Fatalf("record %s unverified: %s", m[1], body)
		}
	}
	for _, want := range []string{"approval_required", "approved by alice", "outcome", "sha256:", "verified: in the tree of size"} {
		if !strings.Contains(body, want) {
			t.Fatalf("timeline lacks %q: %s", want, body)
		}
	}
	if strings.Contains(body, "sess-2") {
		t.Fatal("timeline shows another session")
	}
}

// A record changed on disk after it was checkpointed is shown unverified, and
// so is every record when the console has no key or the wrong one.
func TestSessionTimelineUnverified(t *testing.T) {
	f := newLogFixture(t)
	runSession(t, f, "sess-1")
	f.alog.Flush()
	l, err := audit.OpenLog(f.alog.Name())
	if err != nil {
		t.Fatal(err)
	}
	// The first record of the session is the approval_required denial: change
	// it in whichever segment holds it.
	changed := false
	for _, name := range l.Segments() {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if c := bytes.Replace(b, []byte(`"approval_required"`), []byte(`"approval_requirex"`), 1); !bytes.Equal(c, b) {
			if err := os.WriteFile(name, c, 0o600); err != nil {
				t.Fatal(err)
			}
			changed = true
			break
		}
	}
	if !changed {
		t.Fatal("nothing to change")
	}
	viewer := f.token(t, "victor", map[string]any{"roles": []any{"viewer"}})
	_, body := f.do(t, "GET", "/sessions/sess-1", viewer, nil)
	recs := recRE.FindAllStringSubmatch(body, -1)
	if len(recs) != 4 || recs[0][2] != "false" || recs[1][2] != "true" {
		t.Fatalf("a changed record is not the one unverified: %v\n%s", recs, body)
	}
}

func TestSessionTimelineNoKey(t *testing.T) {
	f := buildFixture(t, true, nil)
	runSession(t, f, "s")
	g := buildFixture(t, true, func(c *console.Config) { c.LogKeys = nil })
	runSession(t, g, "s")
	viewer := g.token(t, "victor", map[string]any{"roles": []any{"viewer"}})
	_, body := g.do(t, "GET", "/sessions/s", viewer, nil)
	if recs := recRE.FindAllStringSubmatch(body, -1); len(recs) != 4 || strings.Contains(body, `data-verified="true"`) {
		t.Fatalf("records verified without a key: %s", body)
	}
}

// Search by agent, tool, session, prompt, decision and time.
func TestSearch(t *testing.T) {
	f := newLogFixture(t)
	runSession(t, f, "sess-1")
	viewer := f.token(t, "victor", map[string]any{"roles": []any{"viewer"}})
	rows := func(q string) int {
		code, body := f.do(t, "GET", "/sessions?"+q, viewer, nil)
		if code != 200 {
			t.Fatalf("search %s: %d %s", q, code, body)
		}
		return strings.Count(body, "<tr><td>")
	}
	hour := url.QueryEscape(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339))
	later := url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	for q, want := range map[string]int{
		"agent=fin-bot":                      4,
		"agent=other":                        0,
		"tool=payments.initiate":             4,
		"session=sess-1&decision=deny":       2,
		"session=sess-1&decision=allow":      2, // the decision and its outcome
		"prompt=turn-1":                      4,
		"prompt=turn-2":                      0,
		"since=" + hour + "&until=" + later:  5, // and the console's approve record
		"since=" + later:                     0,
		"subject=alice":                      1, // the console's approve record
		"session=sess-1&tool=payments.other": 0,
	} {
		if got := rows(q); got != want {
			t.Errorf("search %s: %d rows, want %d", q, got, want)
		}
	}
	if code, _ := f.do(t, "GET", "/sessions?since=yesterday", viewer, nil); code != http.StatusBadRequest {
		t.Fatalf("bad time: %d", code)
	}
	if code, _ := f.do(t, "GET", "/sessions", "", nil); code != 401 {
		t.Fatalf("anonymous search: %d", code)
	}
}

// The identities page lists each model identity with when it was last seen.
func TestIdentities(t *testing.T) {
	f := newLogFixture(t)
	runSession(t, f, "sess-1")
	f.callIn(t, "model:other", "s2", payment{1, `<b>x</b>`})
	viewer := f.token(t, "victor", map[string]any{"roles": []any{"viewer"}})
	code, body := f.do(t, "GET", "/identities", viewer, nil)
	if code != 200 || !strings.Contains(body, "model:fin") || !strings.Contains(body, "model:other") || strings.Contains(body, ">alice<") {
		t.Fatalf("identities: %d %s", code, body)
	}
	if i, j := strings.Index(body, "model:other"), strings.Index(body, "model:fin"); i > j {
		t.Fatal("identities not most recently seen first")
	}
	if !strings.Contains(body, "<td>3</td><td>2</td>") {
		t.Fatalf("model:fin's calls and denials not counted: %s", body)
	}
	// What the policy lets each identity do (policy/access).
	if strings.Count(body, "<code>payments.initiate</code> with approval</div>") != 2 {
		t.Fatalf("the policy's answer for each identity is missing: %s", body)
	}
}

// Without a log the explorer pages are absent, not broken.
func TestNoLogNoExplorer(t *testing.T) {
	f := newFixture(t)
	viewer := f.token(t, "victor", map[string]any{"roles": []any{"viewer"}})
	if code, _ := f.do(t, "GET", "/sessions/x", viewer, nil); code != 404 {
		t.Fatalf("explorer without a log: %d", code)
	}
	if _, body := f.do(t, "GET", "/", viewer, nil); strings.Contains(body, "/identities") {
		t.Fatal("navigation links to absent pages")
	}
}

// Session-aware decisions show their labels and the history facts they read.
func TestTimelineHistory(t *testing.T) {
	f := newLogFixture(t)
	e := audit.Event{ID: "h1", Time: time.Now(), Phase: audit.PhaseDecision, Tool: "docs.read", Decision: audit.Allow,
		SessionID: "sess-h", Labels: []string{"pii"}, History: &audit.HistoryUse{Session: &audit.HistoryFacts{ID: "sess-h",
			Calls: 3, Labels: []string{"secret"}, Facts: []audit.HistoryFact{{Func: "count", Arg: "payments.initiate", Window: time.Hour, Value: 2}}}}}
	if err := f.alog.Record(t.Context(), e); err != nil {
		t.Fatal(err)
	}
	viewer := f.token(t, "victor", map[string]any{"roles": []any{"viewer"}})
	_, body := f.do(t, "GET", "/sessions/sess-h", viewer, nil)
	for _, want := range []string{`data-verified="true"`, "<code>pii</code>", "Session history", "3 calls", "<code>secret</code>",
		"<code>count(&#34;payments.initiate&#34;, 1h0m0s)</code> = 2"} {
		if !strings.Contains(body, want) {
			t.Fatalf("timeline lacks %q:\n%s", want, body)
		}
	}
}

// The request page and the inbox show, from the audit log, the session and
// prompt the call came from, linked to the session's timeline.
func TestRequestOrigin(t *testing.T) {
	f := newLogFixture(t)
	_, err := f.callIn(t, "model:fin", "sess-o", payment{AmountCents: 7, Payee: "ACME"})
	var de *tools.DeniedError
	if !errors.As(err, &de) {
		t.Fatal(err)
	}
	viewer := f.token(t, "victor", map[string]any{"roles": []any{"viewer"}})
	for _, path := range []string{"/approvals/" + de.Approval.ID, "/"} {
		_, body := f.do(t, "GET", path, viewer, nil)
		if !strings.Contains(body, `<a href="/sessions/sess-o">sess-o</a> prompt turn-1`) {
			t.Fatalf("%s: no origin:\n%s", path, body)
		}
	}
	g := newFixture(t) // no log: no origin, and no broken link
	id := g.file(t, payment{AmountCents: 7, Payee: "ACME"})
	if _, body := g.do(t, "GET", "/approvals/"+id, g.token(t, "victor", map[string]any{"roles": []any{"viewer"}}), nil); strings.Contains(body, "/sessions/") {
		t.Fatalf("origin without a log:\n%s", body)
	}
}

// The fast proofs and the slow ones (each record read from the log) agree,
// record by record, on an intact log. (A changed record fails the fast path
// and the fallback: TestSessionTimelineUnverified.)
func TestProofPathsAgree(t *testing.T) {
	f := newLogFixture(t)
	runSession(t, f, "sess-1")
	viewer := f.token(t, "victor", map[string]any{"roles": []any{"viewer"}})
	page := func(slow bool) []string {
		console.SetSlowProofs(slow)
		defer console.SetSlowProofs(false)
		_, body := f.do(t, "GET", "/sessions/sess-1", viewer, nil)
		var out []string
		for _, m := range recRE.FindAllStringSubmatch(body, -1) {
			out = append(out, m[1]+"="+m[2])
		}
		return out
	}
	fast, slow := page(false), page(true)
	if strings.Join(fast, " ") != strings.Join(slow, " ") || len(fast) != 4 || strings.Contains(strings.Join(fast, " "), "false") {
		t.Fatalf("intact log: fast %v, slow %v", fast, slow)
	}
}

// The identities page answers from the policy for each identity: one that no
// permit reaches may call nothing.
func TestIdentitiesMayDo(t *testing.T) {
	rules, _ := policy.Parse("p.yaml", []byte("rules:\n  - {id: fin-only, effect: permit, tools: [payments.initiate], when: 'identity.sub == \"model:fin\"', require: [approval]}\n"))
	set, err := policy.NewSet(rules, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f := buildFixture(t, true, func(c *console.Config) { c.Policy = set })
	f.callIn(t, "model:fin", "s1", payment{1, "A"})
	f.callIn(t, "model:other", "s2", payment{1, "A"})
	viewer := f.token(t, "victor", map[string]any{"roles": []any{"viewer"}})
	_, body := f.do(t, "GET", "/identities", viewer, nil)
	other, fin := body[strings.Index(body, "model:other"):], body[strings.Index(body, "model:fin"):]
	if !strings.Contains(other[:strings.Index(other, "</tr>")], `<td class="maydo">nothing</td>`) ||
		!strings.Contains(fin[:strings.Index(fin, "</tr>")], "<code>payments.initiate</code> with approval") {
		t.Fatalf("may-do per identity:\n%s", body)
	}
}
