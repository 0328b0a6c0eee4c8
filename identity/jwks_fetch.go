package identity

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// fetch requests the set and returns the state that follows from prev: the
// new set, prev's set re-validated (304 or the same document), or prev's set
// with the failure recorded and a retry after MinRefresh. The fetch is not
// cancelled with ctx, so that one impatient caller cannot spoil it for the
// others waiting; the client's timeout bounds it.
func (r *RemoteKeys) fetch(ctx context.Context, prev *remoteState) *remoteState {
	next := remoteState{}
	if prev != nil {
		next = *prev
	}
	now := r.now()
	resp, err := r.get(context.WithoutCancel(ctx), next.etag)
	if err != nil {
		next.err, next.due = err, now.Add(r.minRefresh)
		return &next
	}
	defer resp.Body.Close()
	if err := r.accept(&next, resp); err != nil {
		next.err, next.due = err, now.Add(r.minRefresh)
		return &next
	}
	next.err, next.fetched = nil, now
	next.due = now.Add(r.lifetime(resp.Header))
	return &next
}

func (r *RemoteKeys) get(ctx context.Context, etag string) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, defaultJWKSTimeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("identity: JWK Set request: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("identity: fetch JWK Set: %w", err)
	}
	resp.Body = cancelOnClose{resp.Body, cancel}
	return resp, nil
}

// cancelOnClose releases the request's context when the body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// accept applies a response to next: a 304 keeps the set, a 200 must carry a
// JSON document that passes ParseKeySet. The same document keeps the same
// *KeySet, so cached tokens stay cached.
func (r *RemoteKeys) accept(next *remoteState, resp *http.Response) error {
	switch {
	case resp.StatusCode == http.StatusNotModified && next.set != nil:
		return nil
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("identity: fetch JWK Set: %s", resp.Status)
	}
	if err := jsonMedia(resp.Header.Get("Content-Type")); err != nil {
		return err
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxKeySetSize+1))
	if err != nil {
		return fmt.Errorf("identity: read JWK Set: %w", err)
	}
	digest := sha256.Sum256(body)
	if next.set != nil && digest == next.digest {
		next.etag = resp.Header.Get("ETag")
		return nil
	}
	set, err := ParseKeySet(body)
	if err != nil {
		return fmt.Errorf("identity: JWK Set from %s refused: %w", r.url, err)
	}
	next.set, next.digest, next.etag = set, digest, resp.Header.Get("ETag")
	return nil
}

// jsonMedia accepts application/json, application/jwk-set+json and any other
// +json type.
func jsonMedia(ct string) error {
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && (mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json")) {
		return nil
	}
	return fmt.Errorf("identity: JWK Set served as %.64q, want application/jwk-set+json or application/json", ct)
}

// lifetime is how long a response may be used: its max-age less its Age,
// clamped to [MinRefresh, MaxRefresh]; MinRefresh for no-store or no-cache;
// Refresh without a max-age.
func (r *RemoteKeys) lifetime(h http.Header) time.Duration {
	maxAge, noCache, ok := cacheControl(h.Get("Cache-Control"))
	switch {
	case noCache:
		return r.minRefresh
	case !ok:
		return r.refresh
	}
	if age, err := strconv.ParseUint(strings.TrimSpace(h.Get("Age")), 10, 32); err == nil {
		maxAge -= time.Duration(age) * time.Second
	}
	return min(max(maxAge, r.minRefresh), r.maxRefresh)
}

// maxDelta bounds a max-age, as RFC 9111 §1.2.2 allows (2^31 seconds).
const maxDelta = 1<<31 - 1

// cacheControl reads the directives of a Cache-Control header that matter for
// a key set: max-age (ok false without one, or with an invalid or repeated
// one), and whether no-store or no-cache forbid reuse.
func cacheControl(v string) (maxAge time.Duration, noCache, ok bool) {
	seen := 0
	for d := range strings.SplitSeq(v, ",") {
		name, val, hasVal := strings.Cut(strings.TrimSpace(d), "=")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "no-store", "no-cache":
			noCache = true
		case "max-age":
			seen++
			n, err := strconv.ParseUint(strings.Trim(strings.TrimSpace(val), `"`), 10, 64)
			if !hasVal || err != nil {
				seen = 2 // an invalid max-age voids it
				continue
			}
			maxAge = time.Duration(min(n, maxDelta)) * time.Second
		}
	}
	return maxAge, noCache, seen == 1
}
