package audit_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelguard/modelguard/audit"
)

func TestFileWriteErrorsDenyUntilRecovered(t *testing.T) {
	t.Parallel()
	tests := []struct {
		mode  audit.Durability
		fault func(f *audit.Fault, on bool)
		// firstFails: the call that meets the fault fails (a durable mode),
		// rather than succeeding with its record kept for the retry.
		firstFails bool
	}{
		{audit.GroupCommit, func(f *audit.Fault, on bool) { f.WriteErr = errIf(on) }, true},
		{audit.GroupCommit, func(f *audit.Fault, on bool) { f.SyncErr = errIf(on) }, true},
		{audit.SyncEach, func(f *audit.Fault, on bool) { f.WriteErr, f.WriteBudget = errIf(on), 17 }, true},
		{audit.SyncEach, func(f *audit.Fault, on bool) { f.SyncErr = errIf(on) }, true},
		{audit.Buffered, func(f *audit.Fault, on bool) { f.WriteErr, f.WriteBudget = errIf(on), 100 }, false},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprintf("%v/%d", tt.mode, i), func(t *testing.T) {
			t.Parallel()
			path, clk, fault := logPath(t), newClock(), &audit.Fault{}
			audit.SetFaults(path, fault)
			var reported atomic.Int32
			f, err := audit.OpenFile(path, audit.FileOptions{Durability: tt.mode, BufferSize: 1, Now: clk.Now,
				OnError: func(error) { reported.Add(1) }})
			if err != nil {
				t.Fatal(err)
			}
			ok := 0
			record := func(i int) error {
				err := f.Record(context.Background(), numbered(i))
				if err == nil {
					ok++
				}
				return err
			}
			for i := range 3 {
				if err := record(i); err != nil {
					t.Fatal(err)
				}
			}
			fault.Set(func(f *audit.Fault) { tt.fault(f, true) })
			if err := record(3); (err != nil) != tt.firstFails || (err != nil && !errors.Is(err, audit.ErrDiskFull)) {
				t.Fatalf("the call that met the fault: %v", err)
			}
			writes := fault.Writes
			if err := record(4); !errors.Is(err, audit.ErrUnavailable) {
				t.Fatalf("a call while failed: %v, want ErrUnavailable", err)
			}
			if fault.Writes != writes {
				t.Fatal("a failed log touched the disk before its retry interval")
			}
			clk.Advance(time.Second)
			if err := record(5); !errors.Is(err, audit.ErrUnavailable) {
				t.Fatalf("a call after a failed retry: %v", err)
			}
			fault.Set(func(f *audit.Fault) { tt.fault(f, false) })
			clk.Advance(time.Second)
			for i := 6; i < 9; i++ {
				if err := record(i); err != nil {
					t.Fatalf("after recovery: %v", err)
				}
			}
			st := f.Stats()
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if st.WriteErrors < 2 || st.Err != nil || reported.Load() < 2 {
				t.Errorf("stats %+v, %d reported", st, reported.Load())
			}
			if res := verify(t, path, audit.VerifyOptions{}); res.Records != uint64(ok) {
				t.Fatalf("%d records for %d successful calls", res.Records, ok)
			}
		})
	}
}

func errIf(on bool) error {
	if on {
		return audit.ErrDiskFull
	}
	return nil
}

// TestFileManyCallersFlakyDisk: 64 callers while the disk fails and heals at
// random; whatever happens, the log holds exactly the records whose Record
// returned nil.
func TestFileManyCallersFlakyDisk(t *testing.T) {
	t.Parallel()
	for _, mode := range []audit.Durability{audit.GroupCommit, audit.SyncEach, audit.Buffered} {
		t.Run(mode.String(), func(t *testing.T) {
			t.Parallel()
			path, fault := logPath(t), &audit.Fault{}
			audit.SetFaults(path, fault)
			f, err := audit.OpenFile(path, audit.FileOptions{Durability: mode, RetryInterval: time.Nanosecond,
				BufferSize: 2048, CheckpointEvery: 50})
			if err != nil {
				t.Fatal(err)
			}
			var ok atomic.Int64
			var wg sync.WaitGroup
			for g := range 64 {
				wg.Go(func() {
					for i := range 30 {
						if i%7 == g%7 {
							fault.Set(func(f *audit.Fault) {
								f.WriteErr, f.WriteBudget = errIf(g%2 == 0), g*13
								f.SyncErr = errIf(g%3 == 0)
							})
						}
						if f.Record(context.Background(), numbered(g*100+i)) == nil {
							ok.Add(1)
						}
					}
				})
			}
			wg.Wait()
			fault.Set(func(f *audit.Fault) { f.WriteErr, f.SyncErr = nil, nil })
			if f.Close() != nil { // still failed: reopen, as after a crash
				f, err = audit.OpenFile(path, audit.FileOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if err := f.Close(); err != nil {
					t.Fatal(err)
				}
			}
			var n int64
			for _, e := range events(t, path) {
				if e.Phase != audit.PhaseRecovery {
					n++
				}
			}
			if n != ok.Load() {
				t.Fatalf("%d records for %d successful calls", n, ok.Load())
			}
			verify(t, path, audit.VerifyOptions{})
		})
	}
}
