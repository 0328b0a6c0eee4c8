package bundle

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
)

// Target is what a [Source] keeps up to date: [*tools.Enforcer] is one.
// SetPolicy compiles a set against every guard and swaps it in atomically, or
// changes nothing (and records why); RejectPolicy records a version refused
// before it got that far.
type Target interface {
	SetPolicy(ctx context.Context, set *policy.Set) error
	RejectPolicy(ctx context.Context, version string, reason error) error
}

// SourceOptions configure a [Source].
type SourceOptions struct {
	// Keys verify bundle signatures (note.NewVerifier keys, e.g. from
	// `modelguard audit keygen`). Required.
	Keys note.Verifiers
	// Policy bounds the cost of the bundle's rules.
	Policy policy.Options
	// Client fetches the bundle; default a client with a 10s timeout that
	// refuses redirects.
	Client *http.Client
	// Interval between fetches in [Source.Run]; default 30s.
	Interval time.Duration
	// MaxBytes bounds the bundle; default (and at most) [MaxBytes].
	MaxBytes int64
}

// Source fetches a signed bundle from a URL (https, or http to a loopback
// address, as for remote JWK Sets) and applies each newer one to a [Target].
// It fetches conditionally (If-None-Match, RFC 9110 §13.1.2) so that an
// unchanged bundle costs a 304. A bundle that is too large, malformed, not
// signed by a configured key, not newer than the running one, or does not
// compile against every guard is refused and audited, and the last good one
// stays in force. It is safe for concurrent use.
type Source struct {
	url      string
	client   *http.Client
	keys     note.Verifiers
	popts    policy.Options
	interval time.Duration
	max      int64

	mu      sync.Mutex // serialises updates; guards the fields below
	etag    string
	current uint64 // version of the bundle in force; 0: none yet
}

// NewSource returns a source for the bundle at rawURL. It does not fetch.
func NewSource(rawURL string, opts SourceOptions) (*Source, error) {
	if err := identity.CheckRemoteURL(rawURL); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	if opts.Keys == nil {
		return nil, errors.New("bundle: no keys to verify bundles with")
	}
	s := &Source{url: rawURL, client: opts.Client, keys: opts.Keys, popts: opts.Policy, interval: opts.Interval, max: opts.MaxBytes}
	if s.client == nil {
		s.client = &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
			return errors.New("bundle: the bundle URL redirected; give the final URL")
		}}
	}
	if s.interval <= 0 {
		s.interval = 30 * time.Second
	}
	if s.max <= 0 || s.max > MaxBytes {
		s.max = MaxBytes
	}
	return s, nil
}

// Current returns the version of the bundle in force (0 before the first).
func (s *Source) Current() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current
}

// Update fetches the bundle once and, if it changed and is acceptable, applies
// it to t. It returns the bundle applied, or nil when nothing changed; any
// refusal is returned as an error (and audited through t).
func (s *Source) Update(ctx context.Context, t Target) (*Bundle, error) {
	if t == nil {
		return nil, errors.New("bundle: nil target")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data, etag, err := s.fetch(ctx)
	if errors.Is(err, ErrMalformed) { // too large: refused like any bad bundle
		return nil, errors.Join(err, t.RejectPolicy(ctx, "", err))
	}
	if err != nil || data == nil {
		return nil, err // unreachable or unchanged: the running policy stays
	}
	b, err := s.accept(data)
	if err == nil {
		var set *policy.Set
		if set, err = b.Policy(s.popts); err == nil {
			if err = t.SetPolicy(ctx, set); err == nil { // compiles for every guard or changes nothing; audits either way
				s.etag, s.current = etag, b.Manifest.Version
				return b, nil
			}
			s.etag = etag // SetPolicy audited the refusal; do not refuse the same bundle again every poll
			return nil, fmt.Errorf("%w: %w", ErrPolicy, err)
		}
	}
	s.etag = etag
	version := ""
	if b != nil {
		version = b.Version()
	}
	return nil, errors.Join(err, t.RejectPolicy(ctx, version, err))
}

// accept opens data and checks that it is newer than the bundle in force.
func (s *Source) accept(data []byte) (*Bundle, error) {
	b, err := Open(data, s.keys)
	if err != nil {
		return nil, err
	}
	if b.Manifest.Version <= s.current {
		return b, fmt.Errorf("%w: version %d, running %d", ErrNotNewer, b.Manifest.Version, s.current)
	}
	return b, nil
}

func (s *Source) fetch(ctx context.Context) (data []byte, etag string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, "", fmt.Errorf("bundle: %w", err)
	}
	if s.etag != "" {
		req.Header.Set("If-None-Match", s.etag)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, "", fmt.Errorf("bundle: fetch %s: %w", s.url, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotModified:
		return nil, "", nil
	case http.StatusOK:
	default:
		return nil, "", fmt.Errorf("bundle: fetch %s: %s", s.url, resp.Status)
	}
	if resp.ContentLength > s.max {
		return nil, "", fmt.Errorf("%w: %d bytes, over the %d byte limit", ErrMalformed, resp.ContentLength, s.max)
	}
	data, err = io.ReadAll(io.LimitReader(resp.Body, s.max+1))
	if err != nil {
		return nil, "", fmt.Errorf("bundle: fetch %s: %w", s.url, err)
	}
	if int64(len(data)) > s.max {
		return nil, "", fmt.Errorf("%w: over the %d byte limit", ErrMalformed, s.max)
	}
	return data, resp.Header.Get("ETag"), nil
}

// Run calls Update at once and then every Interval until ctx is done, passing
// each error to onError (if not nil). Run it in its own goroutine.
func (s *Source) Run(ctx context.Context, t Target, onError func(error)) {
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		if _, err := s.Update(ctx, t); err != nil && onError != nil && ctx.Err() == nil {
			onError(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
