package access

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/modelguard/modelguard/audit"
)

// read is what the analysis reads of a record, decoded by encoding/json.
type read struct {
	Time          json.RawMessage `json:"time"`
	Phase         audit.Phase     `json:"phase"`
	Tool          string          `json:"gen_ai.tool.name"`
	Decision      string          `json:"decision"`
	Code          string          `json:"code"`
	Rules         []string        `json:"rules"`
	Controls      []string        `json:"controls"`
	PolicyVersion string          `json:"policy.version"`
	WouldFlip     bool            `json:"shadow.would_flip"`
	Grant         *audit.GrantUse `json:"grant"`
	Identity      audit.Identity  `json:"identity"`
	Args          json.RawMessage `json:"args"`
}

func (r *read) event(t *testing.T) audit.Event {
	e := audit.Event{Phase: r.Phase, Tool: r.Tool, Decision: r.Decision, Code: r.Code, Rules: r.Rules, Controls: r.Controls,
		PolicyVersion: r.PolicyVersion, WouldFlip: r.WouldFlip, Grant: r.Grant, Identity: r.Identity, Args: r.Args}
	if r.Time != nil && e.Time.UnmarshalJSON(r.Time) != nil {
		t.Fatalf("the fast decoder took a time encoding/json rejects: %s", r.Time)
	}
	return e
}

func checkDecode(t *testing.T, rec []byte) {
	var fast audit.Event
	if !decodeFast(rec, &fast) {
		return
	}
	var r read
	if err := json.Unmarshal(rec, &r); err != nil {
		t.Fatalf("fast decode took a record encoding/json rejects (%v): %q", err, rec)
	}
	if want := r.event(t); !reflect.DeepEqual(fast, want) {
		t.Fatalf("record %q\nfast %+v\njson %+v", rec, fast, want)
	}
}

func seedRecords(t testing.TB) [][]byte {
	var out [][]byte
	for _, name := range []string{"finance", "support"} {
		b, err := os.ReadFile(filepath.Join("testdata", "modelguard-"+name+"-audit.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			out = append(out, slices.Clone(sc.Bytes()))
		}
	}
	return append(out,
		[]byte(`{"seq":1,"time":"2026-11-26T09:00:00Z","phase":"decision","decision":"allow","rules":null,"controls":[],"identity":{"sub":"a\u00e9\"b","scopes":["x","y"]},"grant":{"approver":"bob"},"grant":{"jti":"g"}}`),
		[]byte(`{"Decision":"deny","decision":"allow"}`),
		[]byte(`{"phase":"a","phase":null,"shadow.would_flip":true,"shadow.would_flip":null}`),
		[]byte(`{"identity":{"sub":"\xff"},"args":{"n":1e3,"s":[true,false,null,{"k":"v"}]}}`),
		[]byte(`{"reasons":[1,2],"duration_ns":"x","time":null}`),
		[]byte(` {"seq":1} `), []byte(`{"seq":1}x`), []byte(`{"seq":01}`), []byte(`{"args":"\ud800"}`),
	)
}

func TestDecodeFast(t *testing.T) {
	t.Parallel()
	fastOK := 0
	for _, rec := range seedRecords(t) {
		checkDecode(t, rec)
		var e audit.Event
		if decodeFast(rec, &e) {
			fastOK++
		}
	}
	if fastOK < 16 {
		t.Errorf("the fast path took only %d records: the log's own records must go fast", fastOK)
	}
}

func FuzzDecode(f *testing.F) {
	for _, rec := range seedRecords(f) {
		f.Add(rec)
	}
	f.Fuzz(func(t *testing.T, rec []byte) { checkDecode(t, rec) })
}
