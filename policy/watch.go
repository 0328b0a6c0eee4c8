package policy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"time"
)

// WatchOptions configure [Watch]. The zero value polls every 2 seconds and loads
// with default [Options].
type WatchOptions struct {
	// Options are used to load each new set.
	Options Options
	// Interval between polls; default 2s.
	Interval time.Duration
	// Tick, if set, replaces the timer: Watch polls on every receive. Tests use it
	// to poll without sleeping.
	Tick <-chan time.Time
}

// Watch polls the policy files at paths and calls fn whenever their content
// changes: with the new set if it loads, or with the error if it does not (fn then
// keeps whatever set it had). A file that is rewritten with the same content does
// not call fn. The current content is taken as the starting point, so fn is first
// called on the first change. Watch returns when ctx is done.
func Watch(ctx context.Context, paths []string, opts WatchOptions, fn func(*Set, error)) {
	tick := opts.Tick
	if tick == nil {
		interval := opts.Interval
		if interval <= 0 {
			interval = 2 * time.Second
		}
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	last := fingerprint(paths)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
		fp := fingerprint(paths)
		if bytes.Equal(fp, last) {
			continue
		}
		last = fp
		fn(Load(opts.Options, paths...))
	}
}

// fingerprint hashes the content of paths; an unreadable file hashes as its error,
// so that its disappearance and return are both changes.
func fingerprint(paths []string) []byte {
	h := sha256.New()
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			data = []byte("\x00error:" + err.Error())
		}
		sum := sha256.Sum256(data)
		h.Write(sum[:])
	}
	return h.Sum(nil)
}
