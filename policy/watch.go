package policy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
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
//
// A change is taken only once the files read the same at two consecutive polls,
// and the set is loaded from exactly the bytes that were read then: a file caught
// mid-write (truncated, then written in pieces) is never loaded as a policy, so a
// valid-looking prefix (the permit without the forbid after it) cannot become
// the policy. A writer slower than one poll interval between two of its writes
// can still be caught: deploy policy files by writing a temporary file and
// renaming it over the old one (rename is atomic), as `kubectl`, Helm and
// configuration managers do.
func Watch(ctx context.Context, paths []string, opts WatchOptions, fn func(*Set, error)) {
	if ctx == nil || fn == nil {
		if fn != nil {
			fn(nil, errors.New("policy: Watch: nil context"))
		}
		return
	}
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
	st := settle{last: readAll(paths).sum}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
		}
		if snap := readAll(paths); st.take(snap.sum) {
			fn(snap.load(opts.Options, paths))
		}
	}
}

// settle decides, poll by poll, when a change is taken: when the content differs
// from the last one taken and is the same as at the poll before.
type settle struct {
	last    []byte // the content taken last
	pending []byte // a change seen at the previous poll, not yet stable
}

func (s *settle) take(sum []byte) bool {
	switch {
	case bytes.Equal(sum, s.last):
		s.pending = nil
		return false
	case !bytes.Equal(sum, s.pending):
		s.pending = sum // changed: wait one poll to see it settle
		return false
	}
	s.last, s.pending = sum, nil
	return true
}

// snapshot is the content of a set of policy files read at one poll, with a
// hash of it; an unreadable file hashes as its error, so that its disappearance
// and return are both changes.
type snapshot struct {
	data [][]byte
	errs []error
	sum  []byte
}

func readAll(paths []string) snapshot {
	s := snapshot{data: make([][]byte, len(paths)), errs: make([]error, len(paths))}
	h := sha256.New()
	for i, p := range paths {
		s.data[i], s.errs[i] = readFile(p)
		b := s.data[i]
		if s.errs[i] != nil {
			b = []byte("\x00error:" + s.errs[i].Error())
		}
		sum := sha256.Sum256(b)
		h.Write(sum[:])
	}
	s.sum = h.Sum(nil)
	return s
}

// load builds the set from the snapshot's bytes, as [Load] does from files.
func (s snapshot) load(opts Options, paths []string) (*Set, error) {
	var all []Rule
	var errs []error
	for i, p := range paths {
		if s.errs[i] != nil {
			errs = append(errs, s.errs[i])
			continue
		}
		rules, err := Parse(p, s.data[i])
		if err != nil {
			errs = append(errs, err)
			continue
		}
		all = append(all, rules...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return NewSet(all, opts)
}
