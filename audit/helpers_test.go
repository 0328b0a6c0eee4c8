package audit_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelguard/modelguard/audit"
	"golang.org/x/mod/sumdb/note"
)

// keys returns a fresh checkpoint signer and the verifiers for it.
func keys(t testing.TB, name string) (note.Signer, note.Verifiers) {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return s, note.VerifierList(v)
}

// numbered returns the i-th test event.
func numbered(i int) audit.Event {
	e := event(fmt.Sprintf("tool.%d", i%5))
	e.ID = fmt.Sprintf("e-%d", i)
	e.SessionID = fmt.Sprintf("conv-%d", i%3)
	return e
}

// writeLog records n events to a new log at path and closes it.
func writeLog(t testing.TB, path string, n int, opts audit.FileOptions) {
	t.Helper()
	f, err := audit.OpenFile(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := f.Record(context.Background(), numbered(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// events reads back every event of the log at path.
func events(t testing.TB, path string) []audit.Event {
	t.Helper()
	l, err := audit.OpenLog(path)
	if err != nil {
		t.Fatal(err)
	}
	var evs []audit.Event
	if err := l.Events(func(e audit.Event) error { evs = append(evs, e); return nil }); err != nil {
		t.Fatal(err)
	}
	return evs
}

// verify verifies the log at path and fails the test on any problem.
func verify(t testing.TB, path string, opts audit.VerifyOptions) *audit.VerifyResult {
	t.Helper()
	l, err := audit.OpenLog(path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := l.Verify(opts)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return res
}

// lines returns the lines of a file, without newlines.
func lines(t testing.TB, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func writeLines(t testing.TB, path string, ls []string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(ls, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// clock is a manual clock for tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// logPath returns a unique log path in a temp dir; its name is unique across
// tests so that fault injection can match it.
func logPath(t testing.TB) string {
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	return filepath.Join(t.TempDir(), name+".jsonl")
}
