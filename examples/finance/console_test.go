package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is the program's output, read while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls the output until re matches it.
func waitFor(t *testing.T, out *syncBuffer, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no %s in the output:\n%s", re, out)
	return nil
}

// The finance example with a human in the console: the approver signs in with
// the printed token, approves the request on its page, the payment runs once,
// and the session explorer proves the whole sequence.
func TestFinanceConsole(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- runConsole(ctx, out, t.TempDir(), "127.0.0.1:0") }()
	m := waitFor(t, out, regexp.MustCompile(`console (http://[^/ ]+)/ — sign in as \S+ with the token\n(\S+)\n`))
	base, tok := m[1], m[2]
	m = waitFor(t, out, regexp.MustCompile(`approve or deny it at \S+/approvals/(\S+)\n`))
	id := m[1]
	get := func(path string) string {
		req, _ := http.NewRequest("GET", base+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	page := get("/approvals/" + id)
	if !strings.Contains(page, `&#34;invoice&#34;: &#34;INV-7&#34;`) {
		t.Fatalf("request page:\n%s", page)
	}
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)[1]
	req, _ := http.NewRequest("POST", base+"/approvals/"+id+"/approve", strings.NewReader(url.Values{"csrf": {csrf}, "ttl": {"10m"}}.Encode()))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil || resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("approve: %v %v", resp, err)
	}
	resp.Body.Close()
	waitFor(t, out, regexp.MustCompile(`(?s)approved by bob@finance.example.*?ALLOW \{"payment":"PAY-1".*?DENY .*?approval_required.*?ledger  1 payment\(s\) made`))
	timeline := get("/sessions/finance-session-1")
	if n := strings.Count(timeline, `data-verified="true"`); n != 4 || strings.Contains(timeline, `data-verified="false"`) {
		t.Fatalf("timeline: %d records verified, want 4:\n%s", n, timeline)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
