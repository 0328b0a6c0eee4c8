package audit_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/modelguard/modelguard/audit"
	"golang.org/x/mod/sumdb/note"
)

func TestFileDurabilityModes(t *testing.T) {
	t.Parallel()
	for _, mode := range []audit.Durability{audit.GroupCommit, audit.SyncEach, audit.Buffered} {
		for _, callers := range []int{1, 8} {
			t.Run(fmt.Sprintf("%v/%d", mode, callers), func(t *testing.T) {
				t.Parallel()
				path := logPath(t)
				f, err := audit.OpenFile(path, audit.FileOptions{Durability: mode, CheckpointEvery: 37})
				if err != nil {
					t.Fatal(err)
				}
				const per = 40
				var wg sync.WaitGroup
				for g := range callers {
					wg.Go(func() {
						for i := range per {
							if err := f.Record(context.Background(), numbered(g*per+i)); err != nil {
								t.Error(err)
							}
						}
					})
				}
				wg.Wait()
				st := f.Stats()
				if mode != audit.Buffered && st.Durable != uint64(callers*per) {
					t.Errorf("durable = %d after every Record returned, want %d", st.Durable, callers*per)
				}
				if err := f.Close(); err != nil {
					t.Fatal(err)
				}
				if res := verify(t, path, audit.VerifyOptions{}); res.Records != uint64(callers*per) {
					t.Fatalf("log has %d records for %d calls", res.Records, callers*per)
				}
				if mode == audit.SyncEach && st.Syncs < uint64(callers*per) {
					t.Errorf("sync-each made %d syncs for %d records", st.Syncs, callers*per)
				}
			})
		}
	}
}

func TestFileGroupCommitSharesSyncs(t *testing.T) {
	t.Parallel()
	path := logPath(t)
	fault := &audit.Fault{Delay: 500_000} // 0.5ms per write and sync: a slow disk
	audit.SetFaults(path, fault)
	f, err := audit.OpenFile(path, audit.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	const callers, per = 32, 10
	var wg sync.WaitGroup
	for g := range callers {
		wg.Go(func() {
			for i := range per {
				if err := f.Record(context.Background(), numbered(g*per+i)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	st := f.Stats()
	f.Close()
	if st.Syncs >= callers*per/2 {
		t.Errorf("%d syncs for %d records from %d callers: syncs not shared", st.Syncs, callers*per, callers)
	}
	if got := len(events(t, path)); got != callers*per {
		t.Fatalf("%d records for %d calls", got, callers*per)
	}
}

func TestFileReopenAndRotationKeepOneTree(t *testing.T) {
	t.Parallel()
	signer, vs := keys(t, "example.com/rotate")
	path := logPath(t)
	var shipped [][]byte
	opts := audit.FileOptions{Signer: signer, CheckpointEvery: 7, MaxSegmentSize: 1500,
		OnCheckpoint: func(b []byte) error { shipped = append(shipped, b); return nil }}
	for range 3 {
		writeLog(t, path, 20, opts)
	}
	l, err := audit.OpenLog(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Segments()) < 3 {
		t.Fatalf("segments = %v, want rotation", l.Segments())
	}
	res := verify(t, path, audit.VerifyOptions{Keys: vs, Checkpoint: shipped[0]})
	if res.Records != 60 || !res.LatestSigned || res.Latest.Size != 60 || res.Latest.Hash != res.Root {
		t.Fatalf("result = %+v, latest %+v", res, res.Latest)
	}
	prev := int64(0)
	for _, b := range shipped {
		cp, err := audit.OpenCheckpoint(b, vs)
		if err != nil || cp.Size <= prev {
			t.Fatalf("shipped checkpoint %+v, %v after size %d", cp, err, prev)
		}
		prev = cp.Size
	}
}

func TestFileTornLastLine(t *testing.T) {
	t.Parallel()
	path := logPath(t)
	writeLog(t, path, 5, audit.FileOptions{})
	st, _ := os.Stat(path)
	tail := `{"seq":6,"id":"e-5","time":"2026-11-26T12:0`
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(tail)
	f.Close()

	l, _ := audit.OpenLog(path)
	if res, err := l.Verify(audit.VerifyOptions{}); err != nil || res.Torn == nil || res.Torn.Offset != st.Size() {
		t.Fatalf("verify before reopening: %+v, %v", res, err)
	}
	log, err := audit.OpenFile(path, audit.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	torn := log.Stats().Torn
	if len(torn) != 1 || torn[0].Offset != st.Size() || torn[0].Length != int64(len(tail)) ||
		torn[0].Digest != audit.DigestBytes([]byte(tail)) {
		t.Fatalf("torn = %+v, want offset %d length %d", torn, st.Size(), len(tail))
	}
	if err := log.Record(context.Background(), numbered(6)); err != nil {
		t.Fatal(err)
	}
	log.Close()
	evs := events(t, path)
	if len(evs) != 7 || evs[5].Phase != audit.PhaseRecovery || evs[5].Torn == nil || evs[6].ID != "e-6" || evs[6].Seq != 7 {
		t.Fatalf("events after recovery: %+v", evs[5:])
	}
	verify(t, path, audit.VerifyOptions{})
}

func TestFileCrashMidWrite(t *testing.T) {
	t.Parallel()
	path := logPath(t)
	fault := &audit.Fault{}
	audit.SetFaults(path, fault)
	f, err := audit.OpenFile(path, audit.FileOptions{Durability: audit.SyncEach})
	if err != nil {
		t.Fatal(err)
	}
	ok := 0
	for i := range 10 {
		if i == 6 { // the 7th write stops half way, as if the process died
			fault.Set(func(f *audit.Fault) { f.WriteErr, f.WriteBudget, f.Dead = audit.ErrDiskFull, 40, true })
		}
		if f.Record(context.Background(), numbered(i)) == nil {
			ok++
		}
	}
	f.Close() // the "crash": the log stays failed, the torn line stays on disk
	fault.Set(func(f *audit.Fault) { f.WriteErr, f.Dead = nil, false })
	f, err = audit.OpenFile(path, audit.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if torn := f.Stats().Torn; len(torn) != 1 || torn[0].Length != 40 {
		t.Fatalf("torn = %+v", torn)
	}
	f.Close()
	var calls int
	for _, e := range events(t, path) {
		if e.Phase != audit.PhaseRecovery {
			calls++
		}
	}
	if ok != 6 || calls != ok {
		t.Fatalf("%d records for %d successful calls (want 6)", calls, ok)
	}
	verify(t, path, audit.VerifyOptions{})
}

func TestFileRefusesToExtendBrokenLog(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		damage func(t *testing.T, path string)
		want   error
	}{
		{"truncated below its checkpoint", func(t *testing.T, path string) {
			writeLines(t, path, lines(t, path)[:6])
		}, audit.ErrTruncated},
		{"modified, hashes rebuilt", func(t *testing.T, path string) {
			ls := lines(t, path)
			ls[2] = strings.Replace(ls[2], `"decision":"allow"`, `"decision":"deny"`, 1)
			writeLines(t, path, ls)
			os.Remove(path + ".hashes")
		}, audit.ErrFork},
		{"record out of order", func(t *testing.T, path string) {
			ls := lines(t, path)
			ls[3], ls[4] = ls[4], ls[3]
			writeLines(t, path, ls)
			os.Remove(path + ".checkpoint")
		}, audit.ErrCorrupt},
		{"last line not a record", func(t *testing.T, path string) {
			writeLines(t, path, append(lines(t, path), "garbage"))
		}, audit.ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := logPath(t)
			writeLog(t, path, 10, audit.FileOptions{})
			tt.damage(t, path)
			if _, err := audit.OpenFile(path, audit.FileOptions{}); !errors.Is(err, tt.want) {
				t.Fatalf("OpenFile = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestFileRepairsHashes(t *testing.T) {
	t.Parallel()
	for name, damage := range map[string]func(path string){
		"missing": func(path string) { os.Remove(path + ".hashes") },
		"torn":    func(path string) { st, _ := os.Stat(path + ".hashes"); os.Truncate(path+".hashes", st.Size()-13) },
		"lagging": func(path string) { os.Truncate(path+".hashes", 32*5) },
		"no cp":   func(path string) { os.Remove(path + ".checkpoint") },
		"zero tail": func(path string) {
			f, _ := os.OpenFile(path+".hashes", os.O_APPEND|os.O_WRONLY, 0)
			f.Write(make([]byte, 96))
			f.Close()
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := logPath(t)
			writeLog(t, path, 12, audit.FileOptions{CheckpointEvery: 5})
			damage(path)
			writeLog(t, path, 3, audit.FileOptions{})
			if res := verify(t, path, audit.VerifyOptions{}); res.Records != 15 {
				t.Fatalf("records = %d", res.Records)
			}
		})
	}
}

func TestFileCheckpointHookErrorsAreCounted(t *testing.T) {
	t.Parallel()
	signer, vs := keys(t, "example.com/hook")
	var reported []error
	var mu sync.Mutex
	f, err := audit.OpenFile(logPath(t), audit.FileOptions{Signer: signer, CheckpointEvery: 4,
		OnCheckpoint: func([]byte) error { return errors.New("remote volume gone") },
		OnError:      func(err error) { mu.Lock(); reported = append(reported, err); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		if err := f.Record(context.Background(), numbered(i)); err != nil {
			t.Fatal(err)
		}
	}
	cp, err := f.Checkpoint()
	if err != nil {
		t.Fatal(err)
	}
	if c, err := audit.OpenCheckpoint(cp, vs); err != nil || c.Size != 8 {
		t.Fatalf("checkpoint %+v, %v", c, err)
	}
	st := f.Stats()
	f.Close()
	mu.Lock()
	defer mu.Unlock()
	if st.CheckpointErrors != 2 || len(reported) != 2 || st.Err != nil {
		t.Fatalf("stats %+v, reported %v", st, reported)
	}
}

func TestFileUnsignedCheckpointFailsSignatureCheck(t *testing.T) {
	t.Parallel()
	_, vs := keys(t, "example.com/unsigned")
	path := logPath(t)
	writeLog(t, path, 3, audit.FileOptions{})
	l, _ := audit.OpenLog(path)
	if _, err := l.Verify(audit.VerifyOptions{Keys: vs}); !errors.Is(err, audit.ErrBadSignature) {
		t.Fatalf("Verify with a key of an unsigned log: %v", err)
	}
	var _ note.Verifiers = vs
}
