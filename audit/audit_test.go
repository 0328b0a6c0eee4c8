package audit_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelguard/modelguard/audit"
)

func event(tool string) audit.Event {
	return audit.Event{ID: "e-" + tool, Time: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC), Phase: audit.PhaseDecision,
		Tool: tool, Decision: audit.Allow, Rules: []string{"r1"}, Identity: audit.Identity{Subject: "model:a", Agent: "bot"}}
}

func TestMultiRecordsToAllAndJoinsErrors(t *testing.T) {
	t.Parallel()
	var a, b audit.Memory
	e1, e2 := errors.New("sink one down"), errors.New("sink two down")
	m := audit.Multi(&a, audit.SinkFunc(func(context.Context, audit.Event) error { return e1 }), nil, &b,
		audit.SinkFunc(func(context.Context, audit.Event) error { return e2 }))
	err := m.Record(context.Background(), event("x"))
	if !errors.Is(err, e1) || !errors.Is(err, e2) {
		t.Fatalf("err = %v, want both sink errors", err)
	}
	if a.Len() != 1 || b.Len() != 1 {
		t.Fatalf("healthy sinks got %d and %d events, want 1 each", a.Len(), b.Len())
	}
}

func TestMemoryNumbersEvents(t *testing.T) {
	t.Parallel()
	var m audit.Memory
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() { _ = m.Record(context.Background(), event(fmt.Sprint(i))) })
	}
	wg.Wait()
	evs := m.Events()
	for i, e := range evs {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, e.Seq)
		}
	}
	if len(evs) != 50 {
		t.Fatalf("got %d events", len(evs))
	}
}

func TestFileAppendsAndContinues(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	f, err := audit.OpenFile(path, audit.FileOptions{Durability: audit.SyncEach})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a cancelled ctx must not drop events
	for _, tool := range []string{"a", "b"} {
		if err := f.Record(ctx, event(tool)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Record(ctx, event("late")); !errors.Is(err, audit.ErrClosed) {
		t.Fatalf("Record after Close: %v", err)
	}
	f, err = audit.OpenFile(path, audit.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Record(ctx, event("c")); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var got []string
	r, _ := os.Open(path)
	defer r.Close()
	err = audit.ReadLog(r, func(e audit.Event) error {
		got = append(got, fmt.Sprintf("%d:%s", e.Seq, e.Tool))
		return nil
	})
	if err != nil || strings.Join(got, ",") != "1:a,2:b,3:c" {
		t.Fatalf("log = %v, %v", got, err)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("log mode %v, want 0600", st.Mode().Perm())
	}
}

func TestFileRecordNeverHoldsRawFields(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	f, err := audit.OpenFile(path, audit.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e := event("tickets.get")
	e.SessionID, e.CallID = "conv-1", "call_1"
	if err := f.Record(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	f.Close()
	b, _ := os.ReadFile(path)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	// OpenTelemetry GenAI names.
	for _, k := range []string{"gen_ai.tool.name", "gen_ai.conversation.id", "gen_ai.tool.call.id"} {
		if _, ok := m[k]; !ok {
			t.Errorf("record has no %q: %s", k, b)
		}
	}
	if id := m["identity"].(map[string]any); id["gen_ai.agent.id"] != "bot" {
		t.Errorf("identity = %v", id)
	}
}

func TestOpenFileRejectsCorruptLog(t *testing.T) {
	t.Parallel()
	for name, content := range map[string]string{
		"not json":    `{"seq":1,"id":"a"}` + "\nthis is not json\n",
		"seq gap":     `{"seq":1,"id":"a"}` + "\n" + `{"seq":3,"id":"b"}` + "\n",
		"seq reorder": `{"seq":2,"id":"a"}` + "\n" + `{"seq":1,"id":"b"}` + "\n",
	} {
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := audit.OpenFile(path, audit.FileOptions{}); !errors.Is(err, audit.ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", name, err)
		}
	}
}

func TestDigest(t *testing.T) {
	t.Parallel()
	type in struct {
		B string `json:"b"`
		A int    `json:"a"`
	}
	v := in{B: "<x>", A: 1}
	raw, _ := json.Marshal(v)
	sum := sha256.Sum256(raw)
	want := "sha256:" + hex.EncodeToString(sum[:])
	got, err := audit.Digest(v)
	if err != nil || got != want {
		t.Fatalf("Digest = %q, %v; want %q", got, err, want)
	}
	other, _ := audit.Digest(in{B: "<x>", A: 2})
	if other == got {
		t.Fatal("different values, same digest")
	}
	if _, err := audit.Digest(func() {}); err == nil {
		t.Fatal("Digest of a func: want error")
	}
}

func FuzzReadLog(f *testing.F) {
	f.Add([]byte(`{"seq":1,"id":"a","gen_ai.tool.name":"x"}` + "\n"))
	f.Add([]byte("{\n"))
	f.Add([]byte(`{"seq":"x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		err := audit.ReadLog(strings.NewReader(string(data)), func(audit.Event) error { n++; return nil })
		if err != nil && !errors.Is(err, audit.ErrCorrupt) {
			t.Fatalf("ReadLog error is not ErrCorrupt: %v", err)
		}
	})
}
