package audit

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// AsyncOptions configure an [Async] sink. The zero value is valid: a queue of
// 1024 events, a wait of one second when it is full, retries every 100ms.
type AsyncOptions struct {
	// QueueSize bounds the events waiting to be recorded; 0 means 1024.
	QueueSize int
	// MaxWait bounds how long Record waits for room in a full queue before it
	// fails with [ErrQueueFull]; 0 means one second. Record also stops waiting
	// when its ctx is done. It never waits when there is room.
	MaxWait time.Duration
	// RetryInterval is the pause between attempts to record an event the next
	// sink refused; 0 means 100ms.
	RetryInterval time.Duration
	// OnError, if set, is told of every failure of the next sink.
	OnError func(error)
}

// AsyncStats are an [Async] sink's counters.
type AsyncStats struct {
	Queued   int    // events waiting now
	Recorded uint64 // events the next sink recorded
	Retries  uint64 // failed attempts, each retried
	Rejected uint64 // Record calls refused: queue full, sink failed or closed
	Lost     uint64 // events given up on at Close: reported, never silent
	// Err is the next sink's last error while it is failing, nil once it
	// recovers.
	Err error
}

// Async is a sink that hands events to another sink in the background, in the
// order Record was called, so that callers do not wait for slow storage. It is
// bounded and never silently lossy: when its queue is full Record waits, up to
// MaxWait, then fails; when the next sink fails, Async keeps the event and
// retries it, and Record fails with [ErrUnavailable] until the next sink
// recovers. An event Record accepted is recorded, or counted as Lost and
// reported by Close. It is safe for concurrent use.
//
// Record returns before the event is durable: use Async in front of a sink
// whose failures may be noticed a moment late, such as telemetry or a remote
// store, not where a call must wait for its record.
type Async struct {
	next Sink
	opts AsyncOptions
	q    chan item

	mu     sync.RWMutex // held for reading while sending on q, for writing to close it
	closed bool

	smu   sync.Mutex
	stats AsyncStats
	abort chan struct{}
	done  chan struct{}
}

type item struct {
	ctx   context.Context
	e     Event
	flush chan struct{} // a Flush marker, not an event
}

// NewAsync returns an Async sink in front of next and starts its worker.
func NewAsync(next Sink, opts AsyncOptions) *Async {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 1024
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = time.Second
	}
	if opts.RetryInterval <= 0 {
		opts.RetryInterval = 100 * time.Millisecond
	}
	a := &Async{next: next, opts: opts, q: make(chan item, opts.QueueSize),
		abort: make(chan struct{}), done: make(chan struct{})}
	go a.work()
	return a
}

// Record queues e. It fails, and the event is not recorded, if the queue stays
// full for MaxWait or until ctx is done, if the next sink is failing, or after
// Close. A cancelled ctx does not stop an event there is room for.
func (a *Async) Record(ctx context.Context, e Event) error {
	if a == nil || a.q == nil {
		return fmt.Errorf("audit: Async: %w", ErrNotReady)
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	if err := a.refuse(); err != nil {
		return err
	}
	it := item{ctx: context.WithoutCancel(ctx), e: e}
	select {
	case a.q <- it:
		return nil
	default:
	}
	t := time.NewTimer(a.opts.MaxWait)
	defer t.Stop()
	select {
	case a.q <- it:
		return nil
	case <-t.C:
		return a.rejected(fmt.Errorf("%w: waited %v", ErrQueueFull, a.opts.MaxWait))
	case <-ctx.Done():
		return a.rejected(fmt.Errorf("%w: %w", ErrQueueFull, ctx.Err()))
	}
}

func (a *Async) refuse() error {
	if a.closed {
		return a.rejected(ErrClosed)
	}
	a.smu.Lock()
	err := a.stats.Err
	a.smu.Unlock()
	if err != nil {
		return a.rejected(fmt.Errorf("%w: %w", ErrUnavailable, err))
	}
	return nil
}

func (a *Async) rejected(err error) error {
	a.smu.Lock()
	a.stats.Rejected++
	a.smu.Unlock()
	return err
}

// Flush waits until every event queued before it was called is recorded, or
// ctx is done.
func (a *Async) Flush(ctx context.Context) error {
	if a == nil || a.q == nil {
		return fmt.Errorf("audit: Async: %w", ErrNotReady)
	}
	a.mu.RLock()
	if a.closed {
		a.mu.RUnlock()
		return ErrClosed
	}
	m := make(chan struct{})
	select {
	case a.q <- item{flush: m}:
	case <-ctx.Done():
		a.mu.RUnlock()
		return ctx.Err()
	}
	a.mu.RUnlock()
	select {
	case <-m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops taking events and waits until the queued ones are recorded. If
// ctx ends first, it gives up on the rest and reports how many were lost.
func (a *Async) Close(ctx context.Context) error {
	if a == nil || a.q == nil {
		return fmt.Errorf("audit: Async: %w", ErrNotReady)
	}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return ErrClosed
	}
	a.closed = true
	close(a.q)
	a.mu.Unlock()
	select {
	case <-a.done:
	case <-ctx.Done():
		close(a.abort)
		<-a.done
	}
	st := a.Stats()
	if st.Lost > 0 {
		return fmt.Errorf("%w: %d events not recorded: %w", ErrUnavailable, st.Lost, st.Err)
	}
	return nil
}

// Stats returns the sink's counters.
func (a *Async) Stats() AsyncStats {
	if a == nil || a.q == nil {
		return AsyncStats{Err: fmt.Errorf("audit: Async: %w", ErrNotReady)}
	}
	a.smu.Lock()
	defer a.smu.Unlock()
	st := a.stats
	st.Queued = len(a.q)
	return st
}

func (a *Async) work() {
	defer close(a.done)
	for it := range a.q {
		if it.flush != nil {
			close(it.flush)
			continue
		}
		a.deliver(it)
	}
}

// deliver records it, retrying until the next sink takes it or Close gives up.
func (a *Async) deliver(it item) {
	for {
		err := a.next.Record(it.ctx, it.e)
		a.smu.Lock()
		if err == nil {
			a.stats.Recorded++
			a.stats.Err = nil
			a.smu.Unlock()
			return
		}
		a.stats.Retries++
		a.stats.Err = err
		a.smu.Unlock()
		if a.opts.OnError != nil {
			a.opts.OnError(err)
		}
		select {
		case <-time.After(a.opts.RetryInterval):
		case <-a.abort:
			a.smu.Lock()
			a.stats.Lost++
			a.smu.Unlock()
			return
		}
	}
}
