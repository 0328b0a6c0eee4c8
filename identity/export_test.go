package identity

import (
	"bytes"
	"io"
	"net/http"
	"time"
)

// CacheLen exposes the number of cached tokens to the external tests.
func CacheLen(v *Verifier) int { return v.cache.len() }

// CacheControl exposes the Cache-Control parser to the fuzz tests.
func CacheControl(v string) (maxAge time.Duration, noCache, ok bool) { return cacheControl(v) }

// AcceptJWKS runs a 200 response with body and content type ctype through
// the checks RemoteKeys applies to a fetched document.
func AcceptJWKS(body []byte, ctype string) (*KeySet, error) {
	r := &RemoteKeys{url: "fuzz"}
	var next remoteState
	resp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {ctype}},
		Body: io.NopCloser(bytes.NewReader(body))}
	err := r.accept(&next, resp)
	return next.set, err
}
