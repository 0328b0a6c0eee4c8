package audit

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// Fault makes the files of logs whose path contains Match misbehave, for tests.
// It is installed with SetFaults, which is global: tests that use it give their
// logs unique paths.
type Fault struct {
	mu sync.Mutex
	// WriteErr fails writes once the log file has taken WriteBudget more
	// bytes; a write that crosses the budget is partial.
	WriteErr    error
	WriteBudget int
	// SyncErr fails syncs.
	SyncErr error
	// Delay slows every write and sync.
	Delay time.Duration
	// Dead makes every truncate fail, as for a process that died after its
	// last write: nothing is cleaned up.
	Dead bool
	// Writes and Syncs count calls.
	Writes, Syncs int
}

// Set changes the fault under its lock.
func (f *Fault) Set(fn func(f *Fault)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

type faultFile struct {
	*os.File
	f    *Fault
	main bool // the log itself, not a side file
}

func (ff *faultFile) Write(b []byte) (int, error) {
	ff.f.mu.Lock()
	ff.f.Writes++
	d, werr, budget := ff.f.Delay, ff.f.WriteErr, ff.f.WriteBudget
	if werr != nil && ff.main {
		n := min(len(b), max(budget, 0))
		ff.f.WriteBudget -= n
		ff.f.mu.Unlock()
		time.Sleep(d)
		if n < len(b) {
			w, _ := ff.File.Write(b[:n])
			return w, werr
		}
		return ff.File.Write(b)
	}
	ff.f.mu.Unlock()
	time.Sleep(d)
	return ff.File.Write(b)
}

func (ff *faultFile) Sync() error {
	ff.f.mu.Lock()
	ff.f.Syncs++
	d, err := ff.f.Delay, ff.f.SyncErr
	ff.f.mu.Unlock()
	time.Sleep(d)
	if err != nil {
		return err
	}
	return ff.File.Sync()
}

func (ff *faultFile) Truncate(n int64) error {
	ff.f.mu.Lock()
	dead := ff.f.Dead
	ff.f.mu.Unlock()
	if dead {
		return errors.New("process is dead")
	}
	return ff.File.Truncate(n)
}

var (
	faultsMu sync.Mutex
	faults   = map[string]*Fault{}
)

// SetFaults makes logs whose path contains match use f.
func SetFaults(match string, f *Fault) {
	faultsMu.Lock()
	defer faultsMu.Unlock()
	faults[match] = f
}

func init() {
	openHook = func(name string, of file) file {
		faultsMu.Lock()
		defer faultsMu.Unlock()
		for m, f := range faults {
			if strings.Contains(name, m) {
				return &faultFile{File: of.(*os.File), f: f, main: !strings.Contains(name, ".hashes") && !strings.Contains(name, ".checkpoint")}
			}
		}
		return of
	}
}

// ErrDiskFull stands for ENOSPC in tests.
var ErrDiskFull = errors.New("no space left on device")

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// TreeHashAt returns the root of the first n records of the log at path, from
// its hashes file.
func TreeHashAt(path string, n int64) (tlog.Hash, error) {
	f, err := os.Open(path + ".hashes")
	if err != nil {
		return tlog.Hash{}, err
	}
	defer f.Close()
	return tlog.TreeHash(n, hashFile{f})
}
