package console_test

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/tools/console"
)

// BenchmarkSessionTimeline renders a 20-record session timeline, each record
// proven, in a log of 2,000 records; BenchmarkSessionSearch the same records
// through the search page, which proves nothing: the baseline.
// BenchmarkSessionTimelineSlow proves each record by reading it from the log
// (audit.Log.Prove), the fallback.
func BenchmarkSessionTimeline(b *testing.B) { benchExplorer(b, "/sessions/s-7") }
func BenchmarkSessionSearch(b *testing.B)   { benchExplorer(b, "/sessions?session=s-7") }
func BenchmarkSessionTimelineSlow(b *testing.B) {
	console.SetSlowProofs(true)
	defer console.SetSlowProofs(false)
	benchExplorer(b, "/sessions/s-7")
}

func benchExplorer(b *testing.B, path string) {
	defer func(s int64) { segmentSize = s }(segmentSize)
	segmentSize = 0 // one file, as a log between rotations
	f := buildFixture(b, true, nil)
	now := time.Now()
	for i := range 2000 {
		e := audit.Event{ID: fmt.Sprint(i), Time: now, Phase: audit.PhaseDecision, Tool: "docs.read", Decision: audit.Allow,
			SessionID: fmt.Sprintf("s-%d", i%100), ArgsDigest: "sha256:00"}
		if err := f.alog.Record(b.Context(), e); err != nil {
			b.Fatal(err)
		}
	}
	f.alog.Flush()
	tok, _ := f.people.Mint(identityClaims("victor", "viewer"))
	req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	b.ResetTimer()
	for b.Loop() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			b.Fatal(err, resp.StatusCode)
		}
		resp.Body.Close()
	}
}
