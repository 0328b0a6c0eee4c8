package httpguard

import (
	"container/list"
	"net/http"
	"strconv"
	"sync"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/tools"
)

// SessionHeader is the header by which the MCP streamable HTTP transport names
// a session (MCP 2025-11-25 basic/transports, "Session Management").
const SessionHeader = "Mcp-Session-Id"

// MaxSessions bounds the sessions a [Sessions] remembers; the oldest is
// forgotten first, and a request on a forgotten session gets 404, which tells
// an MCP client to start a new session.
const MaxSessions = 1 << 16

// Sessions binds each session a handler opens to the identity (issuer and
// subject) whose request opened it, so that a token of another identity cannot
// act on it: the MCP authorization specification requires servers to bind
// session ids to user information (2025-11-25 basic/security_best_practices,
// "Session Hijacking"). A Sessions is safe for concurrent use.
type Sessions struct {
	header     string
	max        int
	onMismatch func(r *http.Request, sessionID, owner string)

	mu     sync.Mutex
	owners map[string]*list.Element // of session
	order  *list.List               // oldest first
}

// session is a bound session: its id, the key of its owner and, for
// reports, the owner's issuer and subject.
type session struct{ id, key, who string }

// NewSessions returns a binding of the sessions named by header. onMismatch,
// if not nil, is told of every request refused because another identity
// opened its session; it must be safe for concurrent use.
func NewSessions(header string, onMismatch func(r *http.Request, sessionID, owner string)) *Sessions {
	return &Sessions{header: http.CanonicalHeaderKey(header), max: MaxSessions, onMismatch: onMismatch, owners: map[string]*list.Element{}, order: list.New()}
}

// Middleware returns next behind the binding. It must run after the bearer
// check, with the verified claims in the request's context (see
// [Middleware]):
//
//   - a response that names a new session in the header binds it to the
//     identity of its request;
//   - a request naming a session another identity opened gets 403 Forbidden,
//     and one naming a session never opened here (or forgotten) gets 404;
//   - a successful DELETE of a session, or a 404 from next for it, forgets it.
func (s *Sessions) Middleware(next http.Handler) http.Handler {
	if s == nil || s.owners == nil {
		// not built by NewSessions: nothing is bound, so nothing is served
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
		})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		caller, who := owner(r)
		id := r.Header.Get(s.header)
		if id != "" || len(r.Header.Values(s.header)) > 1 {
			if err := s.check(r, id, caller); err != 0 {
				w.Header().Set("Cache-Control", "no-store")
				http.Error(w, http.StatusText(err), err)
				return
			}
		}
		sw := &sessionWriter{ResponseWriter: w, s: s, req: r, id: id, caller: caller, who: who}
		next.ServeHTTP(sw, r)
		if !sw.wroteHeader { // net/http will send 200
			sw.wroteHeader = true
			sw.observe(http.StatusOK)
		}
	})
}

// check returns 0 when caller may use the session id, or the status refusing it.
func (s *Sessions) check(r *http.Request, id, caller string) int {
	if len(r.Header.Values(s.header)) != 1 {
		return http.StatusBadRequest
	}
	s.mu.Lock()
	e, ok := s.owners[id]
	var own session
	if ok {
		own = *e.Value.(*session)
	}
	s.mu.Unlock()
	switch {
	case !ok:
		return http.StatusNotFound
	case caller == "" || own.key != caller:
		if s.onMismatch != nil {
			s.onMismatch(r, id, own.who)
		}
		return http.StatusForbidden
	}
	return 0
}

func (s *Sessions) bind(id, caller, who string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.owners[id]; ok {
		return // never rebind: the first owner keeps it
	}
	s.owners[id] = s.order.PushBack(&session{id, caller, who})
	for s.order.Len() > s.max {
		old := s.order.Remove(s.order.Front()).(*session)
		delete(s.owners, old.id)
	}
}

func (s *Sessions) forget(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.owners[id]; ok {
		s.order.Remove(e)
		delete(s.owners, id)
	}
}

// owner returns the key of the identity whose claims the bearer check
// verified ("" for none): the issuer's length, the issuer and the subject, so
// no two (issuer, subject) pairs share it; and, for reports, the issuer and
// the subject quoted.
func owner(r *http.Request) (key, who string) {
	c, ok := identity.FromContext(r.Context())
	if !ok || c == nil || c.Subject == "" {
		return "", ""
	}
	return strconv.Itoa(len(c.Issuer)) + ":" + c.Issuer + c.Subject, strconv.Quote(c.Issuer) + " " + strconv.Quote(c.Subject)
}

// AuditSessions returns a [ProtectOptions.OnSessionMismatch] that records each
// refusal in r's audit log ([tools.Registry.DenySession]), with the session id.
func AuditSessions(r *tools.Registry) func(req *http.Request, sessionID, owner string) {
	return func(req *http.Request, sessionID, owner string) {
		ctx := tools.WithCall(req.Context(), tools.Call{SessionID: sessionID})
		r.DenySession(ctx, owner)
	}
}

// sessionWriter watches the status and the session header of a response.
type sessionWriter struct {
	http.ResponseWriter
	s           *Sessions
	req         *http.Request
	id, caller  string
	who         string
	wroteHeader bool
}

func (w *sessionWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.wroteHeader = true
		w.observe(code)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *sessionWriter) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

func (w *sessionWriter) observe(code int) {
	ok := code >= 200 && code < 300
	switch {
	case w.id == "":
		if created := w.Header().Get(w.s.header); created != "" && ok && w.caller != "" {
			w.s.bind(created, w.caller, w.who)
		}
	case code == http.StatusNotFound || (ok && w.req.Method == http.MethodDelete):
		w.s.forget(w.id)
	}
}

// Flush lets streaming (server-sent events) through.
func (w *sessionWriter) Flush() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *sessionWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
