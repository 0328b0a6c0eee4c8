package audit

import (
	"encoding/binary"
	"encoding/json"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// memHashes is an in-memory tlog.HashReader.
type memHashes []tlog.Hash

func (m memHashes) ReadHashes(idx []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(idx))
	for i, x := range idx {
		out[i] = m[x]
	}
	return out, nil
}

func TestTreeMatchesTlog(t *testing.T) {
	t.Parallel()
	var tr tree
	var stored memHashes
	for n := int64(0); n < 300; n++ {
		var rec [8]byte
		binary.BigEndian.PutUint64(rec[:], uint64(n))
		want, err := tlog.StoredHashes(n, rec[:], stored)
		if err != nil {
			t.Fatal(err)
		}
		got := tr.add(tlog.RecordHash(rec[:]), nil)
		if len(got) != len(want) {
			t.Fatalf("record %d: %d stored hashes, want %d", n, len(got), len(want))
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("record %d: stored hash %d differs", n, i)
			}
		}
		stored = append(stored, got...)
		root, _ := tlog.TreeHash(n+1, stored)
		if tr.root() != root {
			t.Fatalf("size %d: root differs from tlog's", n+1)
		}
		loaded, err := loadTree(n+1, stored)
		if err != nil || loaded.root() != root {
			t.Fatalf("size %d: loaded tree root differs: %v", n+1, err)
		}
		if got := recordsIn(int64(len(stored)) * tlog.HashSize); got != n+1 {
			t.Fatalf("recordsIn(hashes of %d records) = %d", n+1, got)
		}
		if got := recordsIn(int64(len(stored))*tlog.HashSize - 1); got != n {
			t.Fatalf("recordsIn(a torn hashes file of %d records) = %d", n+1, got)
		}
	}
	var empty tree
	if empty.root() != (tlog.Hash{}) {
		t.Fatal("empty root")
	}
}

func TestAppendRecordIsCanonical(t *testing.T) {
	t.Parallel()
	for _, seq := range []uint64{1, 9, 10, 1 << 40} {
		e := Event{Seq: seq, ID: "x", Tool: "t<&>", Output: []byte(`{"a":"<b>"}`)}
		want, _ := jsonMarshal(e)
		got, err := MarshalRecord(e, seq)
		if err != nil || string(got) != string(want) {
			t.Fatalf("seq %d: %s, want %s", seq, got, want)
		}
		if s, ok := parseSeq(got); !ok || s != seq {
			t.Fatalf("parseSeq = %d, %v", s, ok)
		}
	}
	for _, bad := range []string{``, `{"seq":`, `{"seq":0,`, `{"seq":01,`, `{"seq":1`, `{"seq":-1,`, `{"id":"x"}`, `{"seq":99999999999999999999999,`} {
		if _, ok := parseSeq([]byte(bad)); ok {
			t.Errorf("parseSeq(%q) accepted", bad)
		}
	}
}

func FuzzAppendEvent(f *testing.F) {
	f.Add("tickets.get", "a<b>&\"c\\\n\t\x01\x7f", "\u2028\u2029\xff\xfe", int64(1500), uint64(7), "2026-11-26T12:00:00.123456789+02:00", []byte(` {"a": "<b>\u2028", "c": [1, 2.50]} `))
	f.Add("", "", "", int64(0), uint64(0), "0001-01-01T00:00:00Z", []byte(nil))
	f.Add("x", "y", "z", int64(3), uint64(1), "2026-11-26T12:00:00Z", []byte(`{bad`))
	f.Fuzz(func(t *testing.T, a, b, c string, d int64, seq uint64, ts string, raw []byte) {
		tm, _ := time.Parse(time.RFC3339Nano, ts)
		e := Event{Seq: seq, ID: a, Time: tm, Phase: Phase(b), Tool: c, Decision: a, Code: b, Rules: []string{a, b},
			Reasons: []string{c}, Controls: nil, Errors: []string{}, PolicyVersion: c, SessionID: b, PromptID: a, TraceID: c,
			Identity:   Identity{Issuer: a, Subject: b, Agent: c, Scopes: []string{b}, Act: []string{c, a}, ModelName: a},
			ArgsDigest: a, OutputDigest: b, Outcome: c, Duration: time.Duration(d), Error: b, ErrorType: a,
			Shadow: []string{c}, WouldFlip: d%2 == 0, Secrets: []string{a}, Redacted: []string{b, c},
			RetryAfter: time.Duration(d / 3), Args: json.RawMessage(raw), Output: json.RawMessage(raw)}
		if d%3 == 0 {
			e.Grant = &GrantUse{ID: a, Approver: b, Request: c}
		}
		want, werr := json.Marshal(&e)
		got, ok := appendEvent(nil, &e)
		if werr != nil || !ok {
			if ok {
				t.Fatalf("fast path encoded what encoding/json refuses: %v", werr)
			}
			return
		}
		if string(got) != string(want) {
			t.Fatalf("appendEvent:\n%s\nencoding/json:\n%s", got, want)
		}
		e.Identity = Identity{}
		want, _ = json.Marshal(&e)
		if got, _ := appendEvent(nil, &e); string(got) != string(want) {
			t.Fatalf("empty identity:\n%s\n%s", got, want)
		}
	})
}

func TestFastEncoderCoversEvent(t *testing.T) {
	t.Parallel()
	if !fastOK {
		t.Fatal("Event, Identity or GrantUse changed: update appendEvent and fastFields in encode.go " +
			"(records stay correct meanwhile, through encoding/json, only slower)")
	}
}
