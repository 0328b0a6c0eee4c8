package audit_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelguard/modelguard/audit"
)

// seedLog returns the lines of a small real log, for seeding fuzzers.
func seedLog(f *testing.F) []byte {
	path := filepath.Join(f.TempDir(), "seed.jsonl")
	writeLog(f, path, 5, audit.FileOptions{})
	b, _ := os.ReadFile(path)
	return b
}

func FuzzChecker(f *testing.F) {
	good := seedLog(f)
	f.Add(good)
	ls := bytes.SplitAfter(good, []byte("\n"))
	f.Add(bytes.Join([][]byte{ls[0], ls[2], ls[1]}, nil))
	f.Add(bytes.Join([][]byte{ls[0], ls[0], ls[1]}, nil))
	f.Add([]byte(`{"seq":1,"id":"a"}` + "\n" + `{"seq":3}` + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, _ := audit.NewChecker(audit.VerifyOptions{})
		for i, rec := range bytes.Split(data, []byte("\n")) {
			if _, err := c.Add(rec, audit.Position{Offset: int64(i)}); err != nil {
				break
			}
		}
		res, err := c.Result()
		var ve *audit.VerifyError
		if err != nil && !errors.As(err, &ve) {
			t.Fatalf("error is not a *VerifyError: %v", err)
		}
		if err == nil && res == nil {
			t.Fatal("no result, no error")
		}
	})
}

func FuzzOpenFile(f *testing.F) {
	good := seedLog(f)
	f.Add(good)
	f.Add(good[:len(good)-7])
	f.Add(append(bytes.Clone(good), `{"seq":6,"id":"x"}`...))
	f.Add([]byte("\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "audit.jsonl")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		log, err := audit.OpenFile(path, audit.FileOptions{Durability: audit.Buffered})
		if err != nil {
			if !errors.Is(err, audit.ErrCorrupt) {
				t.Fatalf("OpenFile: %v", err)
			}
			return
		}
		// A log OpenFile accepted takes records and then verifies, as far as
		// sequence and hashes go (its records' content was never checked).
		if err := log.Record(context.Background(), numbered(1)); err != nil {
			t.Fatal(err)
		}
		if err := log.Close(); err != nil {
			t.Fatal(err)
		}
		l, _ := audit.OpenLog(path)
		if _, err := l.Verify(audit.VerifyOptions{}); err != nil && !errors.Is(err, audit.ErrCorrupt) {
			t.Fatalf("Verify after OpenFile accepted the log: %v", err)
		}
	})
}

func FuzzParseCheckpoint(f *testing.F) {
	f.Add([]byte("example.com/log\n12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"))
	f.Add([]byte("example.com/log\n12\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\next\n"))
	f.Add([]byte("a\n-1\nx\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		c, err := audit.ParseCheckpoint(text)
		if err != nil {
			return
		}
		if got := c.Text(); !bytes.Equal(got, text) {
			t.Fatalf("Text() = %q, parsed from %q", got, text)
		}
	})
}

func FuzzOpenCheckpoint(f *testing.F) {
	signer, vs := keys(f, "example.com/fuzz")
	c := audit.Checkpoint{Origin: "example.com/fuzz", Size: 3}
	signed, _ := audit.SignCheckpoint(c, signer)
	f.Add(signed)
	f.Add(c.Text())
	f.Add([]byte("x\n\n— example.com/fuzz AAAA\n"))
	f.Fuzz(func(t *testing.T, msg []byte) {
		cp, err := audit.OpenCheckpoint(msg, vs)
		if err == nil && (cp.Origin != "example.com/fuzz" || !strings.HasPrefix(string(msg), string(cp.Text()))) {
			t.Fatalf("accepted %+v from %q", cp, msg)
		}
		_, _ = audit.UnsafeParseSignedCheckpoint(msg)
	})
}

func FuzzParseProof(f *testing.F) {
	signer, vs := keys(f, "example.com/fuzz")
	path := filepath.Join(f.TempDir(), "audit.jsonl")
	writeLog(f, path, 4, audit.FileOptions{Signer: signer})
	l, _ := audit.OpenLog(path)
	older, _ := l.Checkpoint()
	writeLog(f, path, 3, audit.FileOptions{Signer: signer})
	newer, _ := l.Checkpoint()
	inc, _ := l.Prove(2)
	cons, _ := l.ProveConsistency(older, newer)
	for _, p := range []any{inc, cons} {
		b, _ := json.Marshal(p)
		f.Add(b)
	}
	f.Add([]byte(`{"type":"modelguard.audit.inclusion/v1","seq":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := audit.ParseProof(b)
		if err != nil {
			return
		}
		switch p := p.(type) {
		case *audit.InclusionProof:
			_, _, _ = p.Verify(vs)
		case *audit.ConsistencyProof:
			_, _, _ = p.Verify(vs)
		default:
			t.Fatalf("ParseProof returned %T", p)
		}
	})
}
