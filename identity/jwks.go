package identity

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Defaults of [RemoteKeysOptions].
const (
	DefaultRefresh     = 5 * time.Minute
	DefaultMinRefresh  = 30 * time.Second
	DefaultMaxRefresh  = 15 * time.Minute
	DefaultMaxStale    = time.Hour
	defaultJWKSTimeout = 10 * time.Second
)

// RemoteKeysOptions tunes a [RemoteKeys]. The zero value is the default.
type RemoteKeysOptions struct {
	// Client makes the requests. Nil means a client with a 10s timeout that
	// follows no redirects.
	Client *http.Client
	// Refresh is how long a fetched set is used before it is fetched again,
	// when the response has no Cache-Control max-age. Zero means
	// DefaultRefresh (5m).
	Refresh time.Duration
	// MinRefresh is the floor of a max-age, the wait before retrying a failed
	// fetch, and the least time between two fetches triggered by unknown kids.
	// Zero means DefaultMinRefresh (30s).
	MinRefresh time.Duration
	// MaxRefresh is the ceiling of a max-age. Zero means DefaultMaxRefresh
	// (15m).
	MaxRefresh time.Duration
	// MaxStale is how long after the last successful fetch the set is still
	// used while the endpoint fails. Past it, Key fails closed with
	// ErrKeysUnavailable. Zero means DefaultMaxStale (1h); it must be at least
	// MaxRefresh.
	MaxStale time.Duration
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// RemoteKeys is a [Keys] source backed by a JWK Set served over HTTPS (or
// HTTP on a loopback address, for tests and sidecars). It is safe for
// concurrent use and needs no goroutine of its own:
//
//   - The first Key call fetches the set; later calls use the cached copy
//     until it is due (Cache-Control max-age, clamped to [MinRefresh,
//     MaxRefresh], or Refresh without one). The call that finds it due fetches
//     it again (conditionally, with If-None-Match) while other calls keep
//     using the current copy.
//   - A kid not in the set triggers a fetch, at most once per MinRefresh, so
//     a token signed by a freshly published key verifies at once while a
//     flood of made-up kids costs the issuer one request per MinRefresh.
//     Calls that arrive during a fetch wait for it.
//   - A failed fetch, or a set that breaks the hygiene rules of [ParseKeySet],
//     leaves the last good set in use, retried after MinRefresh, until
//     MaxStale after the last good fetch; then Key fails closed with
//     [ErrKeysUnavailable] until a fetch succeeds.
type RemoteKeys struct {
	url        string
	client     *http.Client
	refresh    time.Duration
	minRefresh time.Duration
	maxRefresh time.Duration
	maxStale   time.Duration
	now        func() time.Time

	state atomic.Pointer[remoteState]

	mu         sync.Mutex // guards inflight and lastForced
	inflight   chan struct{}
	lastForced time.Time
}

// remoteState is one immutable view of the remote set.
type remoteState struct {
	set     *KeySet   // last good set; nil before the first success
	digest  [32]byte  // of the document that set was parsed from
	etag    string    // of that document
	fetched time.Time // last successful fetch (200 or 304)
	due     time.Time // next scheduled fetch
	err     error     // last failure, if the last fetch failed
}

// NewRemoteKeys returns a key source for the JWK Set at rawURL. It does not
// fetch; call [RemoteKeys.Refresh] to fail fast at start-up.
func NewRemoteKeys(rawURL string, opts RemoteKeysOptions) (*RemoteKeys, error) {
	r := &RemoteKeys{url: rawURL, client: opts.Client, now: opts.Now,
		refresh:    orDefault(opts.Refresh, DefaultRefresh),
		minRefresh: orDefault(opts.MinRefresh, DefaultMinRefresh),
		maxRefresh: orDefault(opts.MaxRefresh, DefaultMaxRefresh),
		maxStale:   orDefault(opts.MaxStale, DefaultMaxStale)}
	if err := errors.Join(checkJWKSURL(rawURL), r.checkDurations()); err != nil {
		return nil, err
	}
	if r.client == nil {
		r.client = &http.Client{Timeout: defaultJWKSTimeout, CheckRedirect: noRedirects}
	}
	if r.now == nil {
		r.now = time.Now
	}
	return r, nil
}

func noRedirects(*http.Request, []*http.Request) error {
	return errors.New("identity: JWK Set endpoint redirected; give the final URL")
}

// CheckRemoteURL applies the rule of remote key sets to anything else a guard
// fetches over HTTP (such as policy bundles): https, or http to a loopback
// address; anything else is an error wrapping [ErrConfig].
func CheckRemoteURL(rawURL string) error { return checkJWKSURL(rawURL) }

// checkJWKSURL accepts https URLs, and http ones whose host is a loopback
// address.
func checkJWKSURL(rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return fmt.Errorf("identity: JWK Set URL: %v: %w", err, ErrConfig)
	}
	switch {
	case u.Host == "":
		return fmt.Errorf("identity: JWK Set URL %q has no host: %w", rawURL, ErrConfig)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && loopback(u.Hostname()):
		return nil
	}
	return fmt.Errorf("identity: JWK Set URL %q: want https (or http to a loopback address): %w", rawURL, ErrConfig)
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (r *RemoteKeys) checkDurations() error {
	var errs []error
	for _, d := range []time.Duration{r.refresh, r.minRefresh, r.maxRefresh, r.maxStale} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("identity: negative JWK Set duration %s: %w", d, ErrConfig))
		}
	}
	if r.minRefresh > r.maxRefresh || r.maxRefresh > r.maxStale {
		errs = append(errs, fmt.Errorf("identity: want MinRefresh ≤ MaxRefresh ≤ MaxStale, have %s, %s, %s: %w",
			r.minRefresh, r.maxRefresh, r.maxStale, ErrConfig))
	}
	return errors.Join(errs...)
}

// URL returns the address of the JWK Set.
func (r *RemoteKeys) URL() string {
	if r == nil {
		return ""
	}
	return r.url
}

// Key implements [Keys]. It returns an error wrapping [ErrUnknownKey] when
// kid is not in the current set (after a fetch, if one was allowed), or
// [ErrKeysUnavailable] when no set may be used.
func (r *RemoteKeys) Key(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	if r == nil || r.now == nil {
		return nil, fmt.Errorf("identity: RemoteKeys not built by NewRemoteKeys: %w", ErrConfig)
	}
	now := r.now()
	s := r.state.Load()
	if s == nil || !now.Before(s.due) {
		s = r.fetchOnce(ctx, !r.usable(s, now))
	}
	if !r.usable(s, now) {
		return nil, r.unavailable(s, now)
	}
	k, err := s.set.Key(ctx, kid)
	if err == nil {
		return k, nil
	}
	if s2 := r.forced(ctx, now, kid); s2 != nil && r.usable(s2, now) {
		return s2.set.Key(ctx, kid)
	}
	// The rate limit said no, but the fetch that spent it may have finished
	// since s was loaded: a concurrent caller's set may hold kid.
	if s2 := r.state.Load(); s2 != s && r.usable(s2, now) {
		if k, err2 := s2.set.Key(ctx, kid); err2 == nil {
			return k, nil
		}
	}
	return nil, err
}

// Refresh fetches the set now, whatever its schedule, and returns the error
// of that fetch. The set in use changes only if the fetch succeeds.
func (r *RemoteKeys) Refresh(ctx context.Context) error {
	if r == nil || r.now == nil {
		return fmt.Errorf("identity: RemoteKeys not built by NewRemoteKeys: %w", ErrConfig)
	}
	return r.fetchOnce(ctx, true).err
}

// Keys returns the keys of the set in use, or nil before the first successful
// fetch.
func (r *RemoteKeys) Keys() []jose.JSONWebKey {
	if r == nil || r.now == nil {
		return nil
	}
	if s := r.state.Load(); s != nil {
		return s.set.Keys()
	}
	return nil
}

// usable reports whether s holds a set that may be used at now.
func (r *RemoteKeys) usable(s *remoteState, now time.Time) bool {
	return s != nil && s.set != nil && now.Sub(s.fetched) <= r.maxStale
}

func (r *RemoteKeys) unavailable(s *remoteState, now time.Time) error {
	switch {
	case s == nil || s.set == nil:
		return fmt.Errorf("identity: no JWK Set from %s yet: %v: %w", r.url, s.lastErr(), ErrKeysUnavailable)
	}
	return fmt.Errorf("identity: JWK Set from %s is %s old, past the %s allowed: %v: %w",
		r.url, now.Sub(s.fetched), r.maxStale, s.lastErr(), ErrKeysUnavailable)
}

func (s *remoteState) lastErr() error {
	if s == nil || s.err == nil {
		return errors.New("not fetched")
	}
	return s.err
}

// fetchOnce fetches the set unless a fetch is in flight. With wait, it then
// waits for that fetch (or ctx); without, it returns the current state at once.
func (r *RemoteKeys) fetchOnce(ctx context.Context, wait bool) *remoteState {
	r.mu.Lock()
	if f := r.inflight; f != nil {
		r.mu.Unlock()
		if wait {
			select {
			case <-f:
			case <-ctx.Done():
			}
		}
		return r.state.Load()
	}
	f := make(chan struct{})
	r.inflight = f
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.inflight = nil
		r.mu.Unlock()
		close(f)
	}()
	r.state.Store(r.fetch(ctx, r.state.Load()))
	return r.state.Load()
}

// forced fetches the set for an unknown kid: it joins a fetch in flight, or
// starts one if the last it started is at least MinRefresh old. A joined
// fetch may have begun before the key was published, so if it does not bring
// kid, forced tries once more on its own account. It returns nil when the
// rate limit says no.
func (r *RemoteKeys) forced(ctx context.Context, now time.Time, kid string) *remoteState {
	for range 2 {
		inflight, ok := r.claimForced(now)
		if !ok {
			return nil
		}
		if inflight == nil {
			return r.fetchOnce(ctx, true)
		}
		// Wait for the very fetch that was in flight when the claim was
		// made: calling fetchOnce here could start a new one once it has
		// finished, a request the rate limit never allowed.
		select {
		case <-inflight:
		case <-ctx.Done():
			return r.state.Load()
		}
		if s := r.state.Load(); s == nil || s.set == nil || s.set.has(kid) {
			return s
		}
	}
	return r.state.Load()
}

// claimForced reports whether a forced fetch may run now. When a fetch is in
// flight it returns that fetch's channel, to be joined rather than spend the
// rate limit; otherwise the caller may start one.
func (r *RemoteKeys) claimForced(now time.Time) (inflight chan struct{}, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.inflight != nil {
		return r.inflight, true
	}
	if !r.lastForced.IsZero() && now.Sub(r.lastForced) < r.minRefresh && !now.Before(r.lastForced) {
		return nil, false
	}
	r.lastForced = now
	return nil, true
}
