package identity

import (
	"strings"
	"sync"
	"time"
)

// cache remembers verified tokens so that a token presented on every tool call
// is verified once. It is keyed by the exact token string (split guarantees one
// string per token) and holds the policy-ready *Claims with the span of time in
// which they pass the time checks; outside that span an entry is never served.
// Errors are never cached. A nil *cache is a disabled cache.
//
// Memory is bounded by max entries of at most MaxTokenSize bytes of key each.
type cache struct {
	mu  sync.RWMutex
	max int
	m   map[string]cached
}

// cached is one verified token, with the key that verified it: its claims
// pass the time checks for every instant in [lo, hi].
type cached struct {
	verified
	lo, hi time.Time
}

func newCache(max int) *cache {
	return &cache{max: max, m: make(map[string]cached)}
}

// get returns the entry of token if it is cached and its claims are valid at
// now. It takes only the read lock and does not allocate.
func (c *cache) get(token string, now time.Time) (cached, bool) {
	if c == nil {
		return cached{}, false
	}
	c.mu.RLock()
	e, ok := c.m[token]
	c.mu.RUnlock()
	switch {
	case !ok:
		return cached{}, false
	case now.After(e.hi):
		c.drop(token, now)
		return cached{}, false
	case now.Before(e.lo):
		// The clock went back; let a full verify decide.
		return cached{}, false
	}
	return e, true
}

// remove evicts token.
func (c *cache) remove(token string) {
	c.mu.Lock()
	delete(c.m, token)
	c.mu.Unlock()
}

// drop evicts token if it is still expired at now.
func (c *cache) drop(token string, now time.Time) {
	c.mu.Lock()
	if e, ok := c.m[token]; ok && now.After(e.hi) {
		delete(c.m, token)
	}
	c.mu.Unlock()
}

// put stores e for token, making room first when the cache is full.
func (c *cache) put(token string, e cached, now time.Time) {
	if c == nil || c.max == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[token]; !ok && len(c.m) >= c.max {
		c.makeRoom(now)
	}
	// Clone: token may be a slice of a much larger string (a request header).
	c.m[strings.Clone(token)] = e
}

// makeRoom sweeps expired entries and, if that is not enough, evicts arbitrary
// ones (map order) down to 15/16 of the bound, so that a full cache of live
// tokens pays for a sweep only once every max/16 inserts.
func (c *cache) makeRoom(now time.Time) {
	for k, e := range c.m {
		if now.After(e.hi) {
			delete(c.m, k)
		}
	}
	target := c.max - c.max/16 - 1
	for k := range c.m {
		if len(c.m) <= target {
			break
		}
		delete(c.m, k)
	}
}

// len reports the number of cached entries.
func (c *cache) len() int {
	if c == nil {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
