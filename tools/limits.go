package tools

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
)

// LimitOptions bound the memory of rate limits and budgets. The zero value
// keeps at most 1,000,000 buckets and 100,000 budget accounts.
type LimitOptions struct {
	MaxBuckets  int
	MaxAccounts int
}

// LimitKey names one token bucket or budget account by what it limits: the
// rule, the tool, and the principal whose calls share it (subject, agent or
// tenant, within an issuer; see [policy.Key]). It never holds the limit's
// settings: a policy reload that changes a rate, burst, window or max applies
// the new settings to the existing bucket or running sum, so a reload never
// hands anyone a fresh budget or a full bucket. Budgets are shared by every
// tool a rule covers, so their Tool is empty.
type LimitKey struct {
	Rule, Tool, Principal string
}

// LimitStore keeps the state of rate limits and budgets. The guard asks it for
// each limit and then each budget of an allowed call, before the tool runs; if
// the call does not go ahead after all (a later control denies it, the decision
// cannot be recorded, the caller gave up), it calls the undo funcs it got, so
// the call costs nothing. The default keeps the state in memory, per process
// (bounded by [LimitOptions]); a shared store (such as the PostgreSQL one in
// tools/fleetpg) makes every instance of a fleet enforce what one would.
//
// Both methods return a non-nil undo when the call may go ahead; a nil undo and
// a nil error when the limit or budget denies it, with how long until it could
// succeed (0: unknown or never); an error when the store cannot answer, which
// denies the call with [CodeLimitsUnavailable]. Settings come with every call
// and apply to the state as it is (see [LimitKey]). now is the guard's clock.
// Implementations must be safe for concurrent use.
type LimitStore interface {
	// Take takes one token from the bucket of k, shaped by lim; undo gives it back.
	Take(ctx context.Context, k LimitKey, lim policy.Limit, now time.Time) (undo func(), retry time.Duration, err error)
	// Charge adds amount to the account of k if the sum over the last b.Window
	// stays within b.Max; undo refunds it.
	Charge(ctx context.Context, k LimitKey, b policy.Budget, amount float64, now time.Time) (undo func(), retry time.Duration, err error)
}

// memoryLimits is the default [LimitStore]: one process's buckets and accounts.
type memoryLimits struct {
	l *limiter
	b *budgets
}

func newMemoryLimits(o LimitOptions) memoryLimits {
	return memoryLimits{newLimiter(o.MaxBuckets), newBudgets(o.MaxAccounts)}
}

func (m memoryLimits) Take(_ context.Context, k LimitKey, lim policy.Limit, now time.Time) (func(), time.Duration, error) {
	undo, retry, ok := m.l.take(k, lim, now)
	if !ok {
		return nil, retry, nil
	}
	return undo, 0, nil
}

func (m memoryLimits) Charge(_ context.Context, k LimitKey, b policy.Budget, amount float64, now time.Time) (func(), time.Duration, error) {
	id, retry, ok := m.b.charge(k, b, amount, now)
	if !ok {
		return nil, retry, nil
	}
	return func() { m.b.refund(k, id) }, 0, nil
}

func keyFor(per policy.Key, c *identity.Claims) string {
	switch per {
	case policy.KeyAgent:
		return "agent:" + c.Issuer + "\x00" + c.Agent
	case policy.KeyTenant:
		return "tenant:" + c.Issuer + "\x00" + c.Tenant
	default:
		return "subject:" + c.Issuer + "\x00" + c.Subject
	}
}

// limiter keeps token buckets per key. A bucket that has refilled completely
// holds no information (a new one would start full), so such buckets are dropped
// when the map reaches its bound: memory stays bounded however many identities
// call. If the bound is reached by buckets that are all still refilling, new keys
// are refused (fail closed) rather than forgetting anyone's limit.
type limiter struct {
	mu      sync.Mutex
	buckets map[LimitKey]*bucket
	max     int
	swept   time.Time
}

type bucket struct {
	lim      *rate.Limiter
	refilled time.Time // from then on the bucket is full again
}

func newLimiter(max int) *limiter {
	if max <= 0 {
		max = 1_000_000
	}
	return &limiter{buckets: map[LimitKey]*bucket{}, max: max}
}

// take takes one token from the bucket of k. It returns a func that gives the
// token back (for a call another control then denies), or how long until a token
// is available (0 when never, or when the limiter is at capacity).
func (l *limiter) take(k LimitKey, lim policy.Limit, now time.Time) (undo func(), retry time.Duration, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[k]
	if b == nil {
		if !room(len(l.buckets), l.max, &l.swept, now, func() { l.sweep(now) }) || len(l.buckets) >= l.max {
			return nil, 0, false
		}
		b = &bucket{lim: rate.NewLimiter(rate.Limit(lim.Rate), lim.EffectiveBurst())}
		l.buckets[k] = b
	}
	b.reshape(lim, now)
	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return nil, 0, false
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return nil, d, false
	}
	missing := float64(lim.EffectiveBurst()) - b.lim.TokensAt(now)
	b.refilled = now.Add(time.Duration(math.Ceil(missing / lim.Rate * float64(time.Second))))
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		r.CancelAt(now)
	}, 0, true
}

// reshape applies lim's settings to the bucket, keeping the tokens it holds
// (capped at the new burst): a reload can slow a principal down, never refill it.
func (b *bucket) reshape(lim policy.Limit, now time.Time) {
	r, burst := rate.Limit(lim.Rate), lim.EffectiveBurst()
	if b.lim.Limit() == r && b.lim.Burst() == burst {
		return
	}
	b.lim.SetLimitAt(now, r)
	b.lim.SetBurstAt(now, burst)
	b.lim.SetBurstAt(now, burst) // advances under the new burst: caps the tokens held
}

func (l *limiter) sweep(now time.Time) {
	for k, b := range l.buckets {
		if !b.refilled.After(now) {
			delete(l.buckets, k)
		}
	}
}

// room reports whether a map of size n (bound max) can take a new key, sweeping
// it at most once a second when full so that a flood of new keys costs O(1) each.
func room(n, max int, swept *time.Time, now time.Time, sweep func()) bool {
	if n < max {
		return true
	}
	if now.Sub(*swept) < time.Second && !swept.IsZero() {
		return false
	}
	*swept = now
	sweep()
	return true // the caller re-checks the size after the sweep
}

// budgets keeps, per key, the amounts charged within the window.
type budgets struct {
	mu       sync.Mutex
	accounts map[LimitKey]*account
	max      int
	swept    time.Time
	ids      uint64 // names charges, for refunds
}

type account struct {
	entries []charge // oldest first
	total   float64  // sum of entries
	window  time.Duration
}

type charge struct {
	id     uint64
	at     time.Time
	amount float64
}

// maxCharges bounds one account; beyond it the two oldest charges merge into the
// newer one's time, which can only over-count.
const maxCharges = 4096

func newBudgets(max int) *budgets {
	if max <= 0 {
		max = 100_000
	}
	return &budgets{accounts: map[LimitKey]*account{}, max: max}
}

// charge adds amount to k's account if the window's sum stays within b.Max and
// returns the charge's id (for a refund), or how long until it would fit (0 when
// it never can).
func (bs *budgets) charge(k LimitKey, b policy.Budget, amount float64, now time.Time) (id uint64, retry time.Duration, ok bool) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	a := bs.accounts[k]
	if a == nil {
		if !room(len(bs.accounts), bs.max, &bs.swept, now, func() { bs.sweep(now) }) || len(bs.accounts) >= bs.max {
			return 0, 0, false
		}
		a = &account{window: b.Window}
		bs.accounts[k] = a
	}
	a.window = b.Window // a reload's window applies to the charges already made
	a.expire(now)
	if amount < 0 || amount > b.Max {
		return 0, 0, false
	}
	sum := a.total
	if sum+amount <= b.Max {
		bs.ids++
		a.entries = append(a.entries, charge{id: bs.ids, at: now, amount: amount})
		a.total += amount
		a.compact()
		return bs.ids, 0, true
	}
	for _, c := range a.entries { // wait until enough old charges leave the window
		sum -= c.amount
		if sum+amount <= b.Max {
			return 0, c.at.Add(a.window).Sub(now), false
		}
	}
	return 0, 0, false
}

// refund removes the charge id from k's account (if compaction merged it into
// a newer one, nothing is refunded: over-counting is the safe side).
func (bs *budgets) refund(k LimitKey, id uint64) {
	bs.mu.Lock()
	defer bs.mu.Unlock()
	a := bs.accounts[k]
	if a == nil {
		return
	}
	for i := len(a.entries) - 1; i >= 0; i-- {
		if a.entries[i].id == id {
			a.total -= a.entries[i].amount
			a.entries = append(a.entries[:i], a.entries[i+1:]...)
			return
		}
	}
}

func (a *account) expire(now time.Time) {
	i := 0
	for i < len(a.entries) && !a.entries[i].at.Add(a.window).After(now) {
		a.total -= a.entries[i].amount
		i++
	}
	a.entries = a.entries[i:]
	if len(a.entries) == 0 {
		a.total = 0 // no drift from float rounding
	}
}

func (a *account) compact() {
	if len(a.entries) > maxCharges {
		a.entries[1].amount += a.entries[0].amount
		a.entries = a.entries[1:]
	}
}

// sweep drops accounts with nothing left in their window. Accounts that still
// hold charges are never dropped: forgetting one would reset a spending limit.
func (bs *budgets) sweep(now time.Time) {
	for k, a := range bs.accounts {
		if a.expire(now); len(a.entries) == 0 {
			delete(bs.accounts, k)
		}
	}
}
