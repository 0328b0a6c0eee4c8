package audit

import (
	"encoding/binary"
	"testing"

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
