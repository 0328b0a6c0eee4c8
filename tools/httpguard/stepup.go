package httpguard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"sync"

	"github.com/modelguard/modelguard/tools"
)

// StepUp collects the scopes a request turned out to need: a guard denied one
// of its calls with tools.CodeInsufficientScope. [Protect] puts one in the
// context of each MCP tools/call request and, when scopes were added by the
// time the answer is ready, answers 403 insufficient_scope naming them (RFC
// 6750 §3.1; MCP authorization 2025-11-25 "Scope Challenge Handling") instead
// of the handler's answer, so a client can get a token with them and retry.
// Methods on a nil *StepUp do nothing. It is safe for concurrent use.
type StepUp struct {
	mu     sync.Mutex
	scopes []string
}

// Add notes that the request needs scopes.
func (s *StepUp) Add(scopes ...string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sc := range scopes {
		if !slices.Contains(s.scopes, sc) {
			s.scopes = append(s.scopes, sc)
		}
	}
}

// Scopes returns the scopes added so far.
func (s *StepUp) Scopes() []string {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.scopes)
}

// AddDenial adds the scopes of err if it is a step-up denial, and reports
// whether it was.
func (s *StepUp) AddDenial(err error) bool {
	var de *tools.DeniedError
	if !errors.As(err, &de) || de.Code != tools.CodeInsufficientScope || len(de.Scopes) == 0 {
		return false
	}
	s.Add(de.Scopes...)
	return true
}

type stepUpKey struct{}

// WithStepUp returns ctx carrying s.
func WithStepUp(ctx context.Context, s *StepUp) context.Context {
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithValue(ctx, stepUpKey{}, s)
}

// StepUpFromContext returns the StepUp in ctx, or nil.
func StepUpFromContext(ctx context.Context) *StepUp {
	if ctx == nil {
		return nil
	}
	s, _ := ctx.Value(stepUpKey{}).(*StepUp)
	return s
}

// maxPeek bounds how much of a request body is read to tell a tools/call.
const maxPeek = 4 << 20

// toolCall reports whether r is a POST of one JSON-RPC tools/call request,
// leaving r's body as it was for the handler.
func toolCall(r *http.Request) bool {
	if r.Method != http.MethodPost || r.Body == nil {
		return false
	}
	head, err := io.ReadAll(io.LimitReader(r.Body, maxPeek+1))
	r.Body = readCloser{io.MultiReader(bytes.NewReader(head), r.Body), r.Body}
	if err != nil || len(head) > maxPeek {
		return false
	}
	var msg struct {
		Method string `json:"method"`
	}
	return json.Unmarshal(head, &msg) == nil && msg.Method == "tools/call"
}

type readCloser struct {
	io.Reader
	io.Closer
}

// stepUpWriter holds back the answer to a tools/call until it is complete, or
// until the handler streams something before it (a progress notification, a
// request to the client): then it lets the stream through, and a step-up can
// only be told in the tool result.
type stepUpWriter struct {
	w      http.ResponseWriter
	s      *StepUp
	header http.Header
	code   int
	body   bytes.Buffer
	passed bool // streaming through: everything goes to w
}

func (b *stepUpWriter) Header() http.Header {
	if b.passed {
		return b.w.Header()
	}
	return b.header
}

func (b *stepUpWriter) WriteHeader(code int) {
	if b.passed {
		b.w.WriteHeader(code)
	} else if b.code == 0 {
		b.code = code
	}
}

func (b *stepUpWriter) Write(p []byte) (int, error) {
	if b.passed {
		return b.w.Write(p)
	}
	if b.code == 0 {
		b.code = http.StatusOK
	}
	return b.body.Write(p)
}

// Flush passes the stream through if something was written and no step-up is
// pending; a step-up noted before the answer keeps it held back.
func (b *stepUpWriter) Flush() {
	if !b.passed && b.body.Len() > 0 && len(b.s.Scopes()) == 0 {
		b.release()
	}
	if b.passed {
		http.NewResponseController(b.w).Flush()
	}
}

func (b *stepUpWriter) release() {
	b.passed = true
	for k, v := range b.header {
		b.w.Header()[k] = v
	}
	if b.code == 0 {
		b.code = http.StatusOK
	}
	b.w.WriteHeader(b.code)
	b.w.Write(b.body.Bytes())
}

// finish writes the held-back answer, or the step-up challenge instead.
func (b *stepUpWriter) finish(o *Options) {
	if b.passed {
		return
	}
	if scopes := b.s.Scopes(); len(scopes) > 0 {
		o.InsufficientScope(b.w, scopes)
		return
	}
	if b.code == 0 && b.body.Len() == 0 && len(b.header) == 0 {
		return // nothing written: net/http sends 200
	}
	b.release()
}

// stepUp returns next answering tools/call requests 403 insufficient_scope
// when a call in them needs more scopes.
func stepUp(next http.Handler, o *Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !toolCall(r) {
			next.ServeHTTP(w, r)
			return
		}
		s := &StepUp{}
		bw := &stepUpWriter{w: w, s: s, header: http.Header{}}
		next.ServeHTTP(bw, r.WithContext(WithStepUp(r.Context(), s)))
		bw.finish(o)
	})
}

type optionsKey struct{}

// WriteStepUp answers a request that a guard denied for want of scopes
// (tools.CodeInsufficientScope) with 403 and a challenge naming every scope
// needed and, behind [Protect], the resource metadata (as
// [Options.InsufficientScope] does), and reports whether err was such a
// denial. Use it in handlers behind Protect that call guards directly:
//
//	out, err := getTicket.Call(r.Context(), in)
//	if httpguard.WriteStepUp(w, r, err) {
//		return
//	}
func WriteStepUp(w http.ResponseWriter, r *http.Request, err error) bool {
	var s StepUp
	if !s.AddDenial(err) {
		return false
	}
	o, _ := r.Context().Value(optionsKey{}).(*Options)
	if o == nil {
		o = &Options{}
	}
	o.InsufficientScope(w, s.Scopes())
	return true
}
