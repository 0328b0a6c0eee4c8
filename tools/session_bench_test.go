package tools_test

import (
	"context"
	"runtime"
	"strconv"
	"testing"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/tools"
)

const benchPermit = `
rules:
  - id: tickets-read
    effect: permit
    tools: ["tickets.get"]
    when: identity.agent == "support-bot" && "tickets:read" in identity.scopes
`

// BenchmarkGuardAllowSession is BenchmarkGuardAllow's call (same rule, same
// tool) three ways in one run: plain (no session store), record (a memory
// store: every call is recorded, no rule reads history) and reads (a forbid
// rule on the session's labels and call count: history loaded, decided, and
// compare-and-appended). A session has 32 calls, then the next one starts.
// Besides wall time it reports cpu-ns/op, the calling thread's CPU time per
// call (Linux), which a loaded machine inflates far less than wall time (it
// leaves out the GC's background work).
func BenchmarkGuardAllowSession(b *testing.B) {
	reads := benchPermit + `
  - id: no-exfil
    effect: forbid
    tools: ["tickets.get"]
    when: '("untrusted" in session.labels && "private" in session.labels) || session.count("tickets.*") > 100000'
`
	for _, bc := range []struct {
		name  string
		src   string
		store bool
	}{{"plain", benchPermit, false}, {"record", benchPermit, true}, {"reads", reads, true}} {
		b.Run(bc.name, func(b *testing.B) {
			var store tools.SessionStore
			if bc.store {
				store = &tools.MemorySessions{}
			}
			f := (&sessFixture{}).build(b, bc.src, store, discard)
			get, err := tools.Wrap(f.enf, tools.Tool{Name: "tickets.get"}, func(ctx context.Context, in ticketIn) (ticket, error) {
				return ticket{ID: in.ID, Subject: "printer on fire"}, nil
			})
			if err != nil {
				b.Fatal(err)
			}
			tok, err := f.issuer.Mint(func() (c identity.Claims) {
				c = supportClaims()
				c.Audience = []string{"modelguard"}
				return c
			}())
			if err != nil {
				b.Fatal(err)
			}
			base := identity.WithToken(context.Background(), tok)
			in := ticketIn{ID: "T-1"}
			var ctx context.Context
			i := 0
			b.ReportAllocs()
			runtime.LockOSThread() // so that the thread's CPU time is the loop's
			defer runtime.UnlockOSThread()
			cpu0 := threadCPU()
			for b.Loop() {
				if i%32 == 0 {
					ctx = tools.WithCall(base, tools.Call{SessionID: "s" + strconv.Itoa(i/32)})
				}
				i++
				if _, err := get(ctx, in); err != nil {
					b.Fatal(err)
				}
			}
			if cpu := threadCPU() - cpu0; cpu > 0 {
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
			}
		})
	}
}
