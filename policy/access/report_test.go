package access_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/policy/access"
)

var reportTime = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

func financeReport(t *testing.T) *access.Report {
	t.Helper()
	set, u := example(t, "finance")
	r, err := access.BuildReport(context.Background(), set, u, access.ReportOptions{Log: "modelguard-finance-audit.jsonl", Now: reportTime})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReportFinance(t *testing.T) {
	t.Parallel()
	r := financeReport(t)
	if r.Decisions.Allow != 2 || r.Decisions.Deny != 5 {
		t.Errorf("decisions %+v", r.Decisions)
	}
	if len(r.Approvals) != 1 || r.Approvals[0] != (access.Approval{Approver: "bob@finance.example", Tool: "payments.initiate", Calls: 1}) {
		t.Errorf("approvals %+v", r.Approvals)
	}
	if len(r.TopDenied) != 1 || r.TopDenied[0].Name != "payments.initiate" || r.TopDenied[0].Count != 5 {
		t.Errorf("top denied %+v", r.TopDenied)
	}
	codes := map[string]int{}
	for _, d := range r.Denials {
		codes[d.Name] = d.Count
	}
	if codes["approval_required"] == 0 || codes["no_permit"] != 1 {
		t.Errorf("denials %+v", r.Denials)
	}
	// The example's tags: NIST-CSF-PR.AA-05 and OWASP-AGENTIC-PRIVILEGE (an alias of
	// ASI03) are mapped; SOX-ITGC-CHANGE is not in the default mapping.
	rows := map[string]access.ControlRow{}
	for _, c := range r.Controls {
		rows[c.Tag] = c
	}
	if c := rows["NIST-CSF-PR.AA-05"]; len(c.Items) != 1 || c.Items[0].ID != "PR.AA-05" || c.Decisions.Allow != 1 {
		t.Errorf("PR.AA-05 row %+v", c)
	}
	if c := rows["OWASP-AGENTIC-PRIVILEGE"]; len(c.Items) != 1 || c.Items[0].ID != "ASI03" || c.Rules[0] != "payments-need-approval" {
		t.Errorf("ASI03 row %+v", c)
	}
	if c, ok := rows["SOX-ITGC-CHANGE"]; !ok || len(c.Items) != 0 {
		t.Errorf("unmapped tag row %+v", c)
	}
	total := 0
	for _, s := range r.Timeline.Series {
		for i := range s.Allow {
			total += s.Allow[i] + s.Deny[i]
		}
	}
	if total != 7 || len(r.Timeline.Series) != 1 || r.Timeline.Series[0].Agent != "finance-bot" {
		t.Errorf("timeline %+v", r.Timeline)
	}
	if _, err := json.Marshal(r); err != nil {
		t.Fatal(err)
	}
}

// Everything from the log is escaped: a hostile tool name, agent, approver or
// reason cannot add markup, a script or a request to the report.
func TestReportEscapes(t *testing.T) {
	t.Parallel()
	evil := `"><script>alert(1)</script><img src=https://evil.example/x.png><svg onload=alert(2)>`
	events := []audit.Event{
		call(1, evil, evil, audit.Deny),
		call(2, evil, "ok.tool", audit.Allow, "r"),
	}
	events[0].Code = evil
	events[1].Grant = &audit.GrantUse{ID: "g", Approver: evil}
	events[1].Controls = []string{evil}
	dir := t.TempDir()
	log := writeLog(t, dir, events)
	u, err := access.ReadUsage(log, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	set, err := policy.NewSet([]policy.Rule{{ID: "r", Effect: policy.Permit, Tools: []string{"ok.tool"}, Controls: []string{evil}}}, policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := access.BuildReport(context.Background(), set, u, access.ReportOptions{Log: evil, Now: reportTime})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := r.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	for _, bad := range []string{"<script", "<img", "<svg onload"} {
		if strings.Contains(strings.ToLower(html), bad) {
			t.Errorf("report holds %q unescaped", bad)
		}
	}
	if !strings.Contains(html, "&lt;script&gt;") {
		t.Error("the hostile text is not shown escaped")
	}
}

func TestReportSelfContained(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := financeReport(t).WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	html := b.String()
	for _, bad := range []string{"src=", "href=", "<script", "<link", "@import", "url(", "<img", "<iframe", "<object"} {
		if strings.Contains(html, bad) {
			t.Errorf("report holds %q: not self-contained", bad)
		}
	}
	for _, want := range []string{"<svg", "default-src 'none'", "bob@finance.example", "PR.AA-05", "ASI03", "not in the mapping"} {
		if !strings.Contains(html, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// TestReportChromium renders the report in real headless Chromium and keeps a
// screenshot (in $MODELGUARD_TEST_ARTIFACTS, or the test's temp dir).
func TestReportChromium(t *testing.T) {
	bin := os.Getenv("MODELGUARD_TEST_CHROMIUM")
	if bin == "" {
		t.Skip("set MODELGUARD_TEST_CHROMIUM to a Chromium binary to render the report (eval \"$(.ci/chromium)\")")
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	var b bytes.Buffer
	if err := financeReport(t).WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	out := dir
	if a := os.Getenv("MODELGUARD_TEST_ARTIFACTS"); a != "" {
		out = a
	}
	shot := filepath.Join(out, "access-report.png")
	os.Remove(shot)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir="+filepath.Join(dir, "profile"),
		"--window-size=1100,2400", "--screenshot="+shot, "file://"+page)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, msg)
	}
	png, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	if len(png) < 10_000 || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot %s: %d bytes, not a rendered page", shot, len(png))
	}
	t.Logf("screenshot: %s (%d bytes)", shot, len(png))
}

func TestMapping(t *testing.T) {
	t.Parallel()
	m := access.DefaultMapping()
	for tag, id := range map[string]string{"ASI01": "ASI01", "owasp-asi10": "ASI10", "OWASP-NHI-05": "NHI5", "NHI7": "NHI7", "PR.AA-05": "PR.AA-05"} {
		if got := m.Lookup(tag); len(got) != 1 || got[0].ID != id {
			t.Errorf("Lookup(%q) = %+v, want %s", tag, got, id)
		}
	}
	n := 0
	for _, c := range m.Controls() {
		if c.Framework == "OWASP Agentic Top 10 2026" {
			n++
		}
	}
	if n != 10 {
		t.Errorf("%d ASI entries, want 10", n)
	}
	mine, err := access.ParseMapping([]byte("controls:\n  - {tag: ASI01, framework: Mine, id: M1, title: mine}\n  - {tag: SOX-ITGC-CHANGE, framework: SOX, id: ITGC, title: change management}\n"))
	if err != nil {
		t.Fatal(err)
	}
	ext := m.Extend(mine)
	if got := ext.Lookup("ASI01"); len(got) != 1 || got[0].Framework != "Mine" {
		t.Errorf("extended ASI01: %+v", got)
	}
	if got := ext.Lookup("SOX-ITGC-CHANGE"); len(got) != 1 {
		t.Errorf("extended SOX: %+v", got)
	}
	if got := ext.Lookup("ASI02"); len(got) != 1 {
		t.Errorf("the default ASI02 lost: %+v", got)
	}
	for _, bad := range []string{"", "controls: 3", "controls:\n  - {tag: x}", "controls:\n  - {tag: x, framework: y, id: z, typo: 1}", "- a"} {
		if _, err := access.ParseMapping([]byte(bad)); !errors.Is(err, access.ErrInput) {
			t.Errorf("ParseMapping(%q): %v", bad, err)
		}
	}
}

func FuzzParseMapping(f *testing.F) {
	f.Add([]byte("controls:\n  - {tag: ASI01, aliases: [a], framework: F, id: I, title: T}\n"))
	f.Add([]byte("controls: []"))
	f.Add([]byte("controls:\n  - &a {tag: *a}\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := access.ParseMapping(in)
		if err != nil {
			if !errors.Is(err, access.ErrInput) {
				t.Fatalf("%v does not wrap ErrInput", err)
			}
			return
		}
		for _, c := range m.Controls() {
			if c.Tag == "" || c.Framework == "" || c.ID == "" || len(m.Lookup(c.Tag)) == 0 {
				t.Fatalf("accepted an incomplete control %+v", c)
			}
		}
	})
}
