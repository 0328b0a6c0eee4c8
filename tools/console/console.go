package console

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
)

// Roles read from the "roles" or "role" claim.
const (
	RoleApprover = "approver"
	RoleViewer   = "viewer"
)

// PhaseConsole is the audit phase of console actions.
const PhaseConsole audit.Phase = "console"

// CookieName is the session cookie holding the caller's token.
const CookieName = "mg_console"

//go:embed assets/*
var assets embed.FS

var pages = template.Must(template.ParseFS(assets, "assets/*.html"))

// Config configures a console. Queue, Verifier, Grants, GrantAudience and Audit
// are required.
type Config struct {
	Queue tools.ApprovalQueue
	// Verifier verifies approvers' and viewers' tokens; its audience is the
	// console's own.
	Verifier *identity.Verifier
	// Grants signs approval grants (tools.NewGrantIssuer with the approvers' key).
	Grants *identity.Issuer
	// GrantAudience is the audience of the guards that verify grants.
	GrantAudience []string
	// MaxGrantTTL bounds the expiry an approver may choose for a single-use
	// grant (default 1h).
	MaxGrantTTL time.Duration
	// MaxElevationTTL bounds how long a temporary elevation (a reusable grant)
	// may last (default 30m, and never more than MaxGrantTTL).
	MaxElevationTTL time.Duration
	// BasePath is the path the console is mounted under, such as "/console"
	// (default: the root). Mount it with http.StripPrefix(BasePath, h).
	BasePath string
	// Audit records every console action.
	Audit audit.Sink
	// Log is the audit log the session explorer and identities pages read
	// (a file log at rest, [audit.OpenLog]); nil leaves those pages out.
	Log *audit.Log
	// LogKeys verify the log's signed checkpoints (note.VerifierList of the
	// log's verifier key). Without them no record is shown as verified.
	LogKeys note.Verifiers
	// Policy, if set, is the enforced policy: the identities page shows what
	// it lets each identity call (package policy/access, from the policy
	// alone).
	Policy *policy.Set
	// Proxy, if set, also accepts users authenticated by a trusted proxy's
	// identity headers (see [ProxyAuth]). Off by default.
	Proxy *ProxyAuth
	// CSRFSecret keys the CSRF tokens (at least 32 bytes). Instances behind
	// one load balancer need the same secret, so that a form served by one
	// is accepted by another; random per instance when empty.
	CSRFSecret []byte
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Handler is the console. Create it with [New].
type Handler struct {
	cfg    Config
	secret []byte
	mux    *http.ServeMux
}

// New returns the console handler.
func New(cfg Config) (*Handler, error) {
	switch {
	case cfg.Queue == nil:
		return nil, errors.New("console: no approval queue")
	case cfg.Verifier == nil:
		return nil, errors.New("console: no verifier: there is no anonymous mode")
	case cfg.Grants == nil || len(cfg.GrantAudience) == 0:
		return nil, errors.New("console: no grant issuer or grant audience")
	case cfg.Audit == nil:
		return nil, errors.New("console: no audit sink: every console action is recorded")
	}
	if cfg.Proxy != nil {
		p := *cfg.Proxy
		if err := p.check(); err != nil {
			return nil, err
		}
		cfg.Proxy = &p
	}
	if cfg.MaxGrantTTL <= 0 {
		cfg.MaxGrantTTL = time.Hour
	}
	if cfg.MaxElevationTTL <= 0 {
		cfg.MaxElevationTTL = 30 * time.Minute
	}
	cfg.MaxElevationTTL = min(cfg.MaxElevationTTL, cfg.MaxGrantTTL)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.BasePath = strings.TrimSuffix(cfg.BasePath, "/"); cfg.BasePath != "" && !strings.HasPrefix(cfg.BasePath, "/") {
		return nil, errors.New("console: BasePath must start with /")
	}
	h := &Handler{cfg: cfg, secret: append([]byte(nil), cfg.CSRFSecret...), mux: http.NewServeMux()}
	switch {
	case len(h.secret) == 0:
		h.secret = make([]byte, 32)
		if _, err := rand.Read(h.secret); err != nil {
			return nil, err
		}
	case len(h.secret) < 32:
		return nil, errors.New("console: CSRFSecret must be at least 32 bytes")
	}
	h.mux.HandleFunc("GET /{$}", h.inbox)
	h.mux.HandleFunc("GET /approvals/{id}", h.request)
	h.mux.HandleFunc("POST /approvals/{id}/approve", h.approve)
	h.mux.HandleFunc("POST /approvals/{id}/deny", h.deny)
	h.mux.HandleFunc("POST /logout", h.logout)
	h.mux.HandleFunc("GET /api/approvals", h.apiPending)
	h.mux.HandleFunc("GET /api/approvals/{id}", h.apiRequestStatus)
	if cfg.Log != nil {
		h.mux.HandleFunc("GET /sessions", h.search)
		h.mux.HandleFunc("GET /sessions/{id}", h.session)
		h.mux.HandleFunc("GET /identities", h.identities)
	}
	return h, nil
}

// user is an authenticated console user.
type user struct {
	claims *identity.Claims
	token  string
	roles  []string
}

func (u *user) approver() bool {
	// A model identity is never an approver, whatever its roles claim says.
	if u.claims.Model != (identity.Model{}) || u.claims.Agent != "" {
		return false
	}
	return slices.Contains(u.roles, RoleApprover)
}

func (u *user) viewer() bool { return u.approver() || slices.Contains(u.roles, RoleViewer) }

func roles(c *identity.Claims) []string {
	var out []string
	switch v := c.Raw["roles"].(type) {
	case []any:
		for _, r := range v {
			if s, ok := r.(string); ok {
				out = append(out, s)
			}
		}
	case string:
		out = strings.Fields(v)
	}
	if s, ok := c.Raw["role"].(string); ok {
		out = append(out, s)
	}
	return out
}

// ServeHTTP authenticates the caller, sets the security headers and serves the
// console.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h == nil || h.mux == nil {
		http.Error(w, "console: not built (use console.New)", http.StatusServiceUnavailable)
		return
	}
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Frame-Options", "DENY")
	if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/static/") {
		http.StripPrefix("/static/", http.FileServerFS(mustSub())).ServeHTTP(w, r)
		return
	}
	// A browser says when a request comes from another site: refuse every
	// such POST, sign-in included (login CSRF), before anything else.
	if r.Method == http.MethodPost && r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		http.Error(w, "forbidden: cross-site request", http.StatusForbidden)
		return
	}
	if r.Method == http.MethodPost && r.URL.Path == "/login" {
		h.login(w, r)
		return
	}
	u, err := h.authenticate(r)
	if err != nil {
		if r.Method == http.MethodGet {
			w.WriteHeader(http.StatusUnauthorized)
			h.render(w, "login.html", view{Base: h.cfg.BasePath, Error: err.Error()})
			return
		}
		http.Error(w, "unauthenticated", http.StatusUnauthorized)
		return
	}
	if !u.viewer() {
		http.Error(w, "forbidden: no console role", http.StatusForbidden)
		return
	}
	if r.Method == http.MethodPost && !h.csrfOK(u, r.PostFormValue("csrf")) {
		http.Error(w, "forbidden: missing or wrong CSRF token", http.StatusForbidden)
		return
	}
	h.mux.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, u)))
}

type userKey struct{}

func userOf(r *http.Request) *user { u, _ := r.Context().Value(userKey{}).(*user); return u }

func (h *Handler) authenticate(r *http.Request) (*user, error) {
	if h.cfg.Proxy != nil {
		if u, ok, err := h.cfg.Proxy.user(r); ok {
			return u, err
		}
	}
	tok := ""
	if a := r.Header.Get("Authorization"); a != "" {
		s, ok := strings.CutPrefix(a, "Bearer ")
		if !ok {
			return nil, errors.New("authorization is not a bearer token")
		}
		tok = strings.TrimSpace(s)
	} else if c, err := r.Cookie(CookieName); err == nil {
		tok = c.Value
	}
	if tok == "" {
		return nil, errors.New("sign in with a token")
	}
	c, err := h.cfg.Verifier.Verify(r.Context(), tok)
	if err != nil {
		return nil, errors.New("token refused")
	}
	return &user{claims: c, token: tok, roles: roles(c)}, nil
}

func (h *Handler) csrf(u *user) string {
	m := hmac.New(sha256.New, h.secret)
	m.Write([]byte(u.token))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (h *Handler) csrfOK(u *user, got string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(h.csrf(u))) == 1
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	tok := strings.TrimSpace(r.PostFormValue("token"))
	c, err := h.cfg.Verifier.Verify(r.Context(), tok)
	if tok == "" || err != nil {
		w.WriteHeader(http.StatusUnauthorized)
		h.render(w, "login.html", view{Base: h.cfg.BasePath, Error: "token refused"})
		return
	}
	u := &user{claims: c, token: tok, roles: roles(c)}
	h.record(r.Context(), u, "login", "", nil)
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: tok, Path: "/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, Expires: c.Expiry})
	http.Redirect(w, r, h.cfg.BasePath+"/", http.StatusSeeOther)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	http.Redirect(w, r, h.cfg.BasePath+"/", http.StatusSeeOther)
}

// record writes a console action to the audit log; an action that cannot be
// recorded fails.
func (h *Handler) record(ctx context.Context, u *user, action, request string, extra []string) error {
	e := audit.Event{ID: randomID(), Time: h.cfg.Now().UTC(), Phase: PhaseConsole, Code: "console_" + action,
		Identity: audit.Identity{Issuer: u.claims.Issuer, Subject: u.claims.Subject, TokenID: u.claims.ID},
		Reasons:  append([]string{"request " + request}, extra...)}
	if request == "" {
		e.Reasons = extra
	}
	return h.cfg.Audit.Record(ctx, e)
}

func randomID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

type view struct {
	Base     string // Config.BasePath, before every link
	User     string
	Approver bool
	CSRF     string
	Requests []reqView
	Req      *reqView
	MaxTTL   string
	MaxElev  string
	Explorer bool // an audit log is configured: sessions and identities pages
	Error    string
}

type reqView struct {
	tools.ApprovalRequest
	ArgsPretty string
	Waiting    string
	// Origin is the denial that filed the request, from the audit log: its
	// session, prompt and delegation chain (nil when unknown).
	Origin *audit.Event
}

func (h *Handler) viewOf(u *user) view {
	return view{Base: h.cfg.BasePath, User: u.claims.Subject, Approver: u.approver(), CSRF: h.csrf(u),
		MaxTTL: h.cfg.MaxGrantTTL.String(), MaxElev: h.cfg.MaxElevationTTL.String(), Explorer: h.cfg.Log != nil}
}

func (h *Handler) reqView(r tools.ApprovalRequest) reqView {
	return reqView{ApprovalRequest: r, ArgsPretty: pretty(r.Args), Waiting: h.cfg.Now().Sub(r.Time).Round(time.Second).String()}
}

func (h *Handler) inbox(w http.ResponseWriter, r *http.Request) {
	u := userOf(r)
	reqs, err := h.cfg.Queue.List(r.Context(), tools.StatusPending)
	if err != nil {
		http.Error(w, "approval queue unavailable", http.StatusServiceUnavailable)
		return
	}
	v := h.viewOf(u)
	v.Requests = h.withOrigins(reqs)
	h.render(w, "inbox.html", v)
}

func (h *Handler) request(w http.ResponseWriter, r *http.Request) {
	u := userOf(r)
	q, err := h.cfg.Queue.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		http.Error(w, "no such request", http.StatusNotFound)
		return
	}
	v := h.viewOf(u)
	v.Req = &h.withOrigins([]tools.ApprovalRequest{q})[0]
	h.render(w, "request.html", v)
}

func (h *Handler) render(w http.ResponseWriter, name string, data any) {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		http.Error(w, "render failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(b.Bytes())
}

// pretty indents JSON arguments without HTML-escaping them (the template
// escapes), so that the approver reads the exact characters of each value.
// Numbers are kept as written.
func pretty(raw json.RawMessage) string {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return string(raw)
	}
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	e.SetIndent("", "  ")
	if err := e.Encode(v); err != nil {
		return string(raw)
	}
	return strings.TrimSuffix(b.String(), "\n")
}
