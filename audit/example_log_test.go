package audit_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/modelguard/modelguard/audit"
	"golang.org/x/mod/sumdb/note"
)

// A tamper-evident log: record, verify against the signed checkpoint, prove a
// record, and catch an edit.
func ExampleOpenFile() {
	dir, _ := os.MkdirTemp("", "audit-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "audit.jsonl")

	skey, vkey, _ := note.GenerateKey(rand.Reader, "example.com/support-bot")
	signer, _ := note.NewSigner(skey)
	verifier, _ := note.NewVerifier(vkey)
	keys := note.VerifierList(verifier)

	log, _ := audit.OpenFile(path, audit.FileOptions{Signer: signer})
	for _, tool := range []string{"tickets.get", "tickets.search"} {
		_ = log.Record(context.Background(), audit.Event{ID: tool, Tool: tool, Decision: audit.Allow,
			Time: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)})
	}
	_ = log.Close() // writes a last signed checkpoint

	l, _ := audit.OpenLog(path)
	res, err := l.Verify(audit.VerifyOptions{Keys: keys})
	fmt.Println("records:", res.Records, "signed:", res.LatestSigned, "err:", err)

	proof, _ := l.Prove(2)
	_, e, err := proof.Verify(keys)
	fmt.Println("proved:", e.Seq, e.Tool, err)

	b, _ := os.ReadFile(path)
	_ = os.WriteFile(path, []byte(strings.Replace(string(b), "tickets.search", "tickets.delete", 1)), 0o600)
	_, err = l.Verify(audit.VerifyOptions{Keys: keys})
	var ve *audit.VerifyError
	fmt.Println("after an edit:", errors.Is(err, audit.ErrModified), errors.As(err, &ve) && ve.Index == 2)
	// Output:
	// records: 2 signed: true err: <nil>
	// proved: 2 tickets.search <nil>
	// after an edit: true true
}

func ExampleLog_Query() {
	dir, _ := os.MkdirTemp("", "audit-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "audit.jsonl")
	log, _ := audit.OpenFile(path, audit.FileOptions{Durability: audit.Buffered})
	at := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	for i, tool := range []string{"tickets.get", "payments.initiate", "tickets.search"} {
		_ = log.Record(context.Background(), audit.Event{ID: fmt.Sprint(i), Time: at.Add(time.Duration(i) * time.Minute),
			Tool: tool, Decision: audit.Allow, Rules: []string{"tickets-read"}, SessionID: "conv-7",
			PromptID: fmt.Sprintf("turn-%d", i+1), Identity: audit.Identity{Agent: "support-bot"}})
	}
	_ = log.Close()

	l, _ := audit.OpenLog(path)
	_ = l.Query(audit.Filter{Agent: "support-bot", Session: "conv-7", Rule: "tickets-read",
		Since: at.Add(time.Minute)}, func(e audit.Event) error {
		fmt.Println(e.Seq, e.Time.Format(time.TimeOnly), e.PromptID, e.Tool, e.Decision)
		return nil
	})
	// Output:
	// 2 12:01:00 turn-2 payments.initiate allow
	// 3 12:02:00 turn-3 tickets.search allow
}

func ExampleCheckpoint() {
	c := audit.Checkpoint{Origin: "example.com/support-bot", Size: 42}
	fmt.Print(string(c.Text()))
	// Output:
	// example.com/support-bot
	// 42
	// AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
}

// An Async sink in front of a slow one: bounded, in order, never silently
// lossy.
func ExampleNewAsync() {
	var mem audit.Memory
	a := audit.NewAsync(&mem, audit.AsyncOptions{QueueSize: 128, MaxWait: 50 * time.Millisecond})
	for i := range 3 {
		if err := a.Record(context.Background(), audit.Event{ID: fmt.Sprint(i)}); err != nil {
			fmt.Println("denied:", err) // a guard denies the call
		}
	}
	_ = a.Close(context.Background())
	fmt.Println(mem.Len(), a.Stats().Recorded)
	// Output: 3 3
}
