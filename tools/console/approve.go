package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/modelguard/modelguard/tools"
)

// Approval kinds, the "kind" field of POST /approvals/{id}/approve.
const (
	// KindOnce signs a single-use grant bound to the request's exact arguments
	// digest (the default).
	KindOnce = "once"
	// KindElevate signs a temporary elevation: a reusable grant for the
	// request's tool, narrowed by an optional constraint, that lasts at most
	// Config.MaxElevationTTL.
	KindElevate = "elevate"
)

// maxConstraint bounds the CEL constraint an approver may type.
const maxConstraint = 2048

// errBadAnswer: the approve form is malformed; the answer is 400.
var errBadAnswer = errors.New("bad approval")

// answer reads the approve form: kind, expiry and constraint, each bounded.
func (h *Handler) answer(u *user, r *http.Request) (tools.Answer, string, error) {
	kind := r.PostFormValue("kind")
	if kind == "" {
		kind = KindOnce
	}
	max := h.cfg.MaxGrantTTL
	switch kind {
	case KindOnce:
	case KindElevate:
		max = h.cfg.MaxElevationTTL
	default:
		return tools.Answer{}, "", fmt.Errorf("%w: kind must be %q or %q", errBadAnswer, KindOnce, KindElevate)
	}
	ttl, err := time.ParseDuration(strings.TrimSpace(r.PostFormValue("ttl")))
	if err != nil || ttl <= 0 || ttl > max {
		return tools.Answer{}, "", fmt.Errorf("%w: expiry must be a duration in (0, %s]", errBadAnswer, max)
	}
	c := strings.TrimSpace(r.PostFormValue("constraint"))
	if len(c) > maxConstraint || !utf8.ValidString(c) || strings.ContainsFunc(c, unicode.IsControl) {
		return tools.Answer{}, "", fmt.Errorf("%w: the constraint must be at most %d bytes of text on one line", errBadAnswer, maxConstraint)
	}
	// An elevation is scoped to the request's tool: the queue finds grants by
	// the tool of the request they answer, so a wider pattern would promise
	// more than it gives.
	return tools.Answer{Approver: u.claims.Subject, Audience: h.cfg.GrantAudience, Expiry: h.cfg.Now().Add(ttl),
		Elevate: kind == KindElevate, Constraint: c}, kind, nil
}

func (h *Handler) approve(w http.ResponseWriter, r *http.Request) {
	u := userOf(r)
	if !u.approver() {
		http.Error(w, "forbidden: not an approver", http.StatusForbidden)
		return
	}
	id := r.PathValue("id")
	a, kind, err := h.answer(u, r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	// Refuse one's own request before recording anything: the audit log then
	// holds only approvals that were given.
	if q, err := h.cfg.Queue.Get(r.Context(), id); err == nil && q.Subject == u.claims.Subject {
		decisionFailed(w, tools.ErrSelfApproval, "")
		return
	}
	// Record before signing: an approval that cannot be recorded is not given.
	extra := []string{"kind " + kind, "expires " + a.Expiry.UTC().Format(time.RFC3339)}
	if a.Constraint != "" {
		extra = append(extra, "constraint "+a.Constraint)
	}
	if err := h.record(r.Context(), u, "approve", id, extra); err != nil {
		http.Error(w, "audit log unavailable", http.StatusServiceUnavailable)
		return
	}
	_, err = tools.ApproveRequest(r.Context(), h.cfg.Queue, h.cfg.Grants, id, a)
	if decisionFailed(w, err, "approval failed") {
		return
	}
	http.Redirect(w, r, h.cfg.BasePath+"/approvals/"+id, http.StatusSeeOther)
}

// decisionFailed answers a failed approve or deny with its status and reports
// whether err was a failure.
func decisionFailed(w http.ResponseWriter, err error, failed string) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, tools.ErrSelfApproval):
		http.Error(w, "forbidden: you cannot decide a request made under your own subject", http.StatusForbidden)
	case errors.Is(err, tools.ErrNoRequest):
		http.Error(w, "no such request", http.StatusNotFound)
	case errors.Is(err, tools.ErrDecided):
		http.Error(w, "already decided", http.StatusConflict)
	default:
		http.Error(w, failed, http.StatusInternalServerError)
	}
	return true
}

func (h *Handler) deny(w http.ResponseWriter, r *http.Request) {
	u := userOf(r)
	if !u.approver() {
		http.Error(w, "forbidden: not an approver", http.StatusForbidden)
		return
	}
	id, reason := r.PathValue("id"), strings.TrimSpace(r.PostFormValue("reason"))
	if reason == "" || len(reason) > maxConstraint || !utf8.ValidString(reason) {
		http.Error(w, "a denial needs a reason (at most 2048 bytes)", http.StatusBadRequest)
		return
	}
	// No one decides a request made under their own subject, either way.
	if q, err := h.cfg.Queue.Get(r.Context(), id); err == nil && q.Subject == u.claims.Subject {
		decisionFailed(w, tools.ErrSelfApproval, "")
		return
	}
	if err := h.record(r.Context(), u, "deny", id, []string{reason}); err != nil {
		http.Error(w, "audit log unavailable", http.StatusServiceUnavailable)
		return
	}
	if decisionFailed(w, h.cfg.Queue.Deny(r.Context(), id, u.claims.Subject, reason), "denial failed") {
		return
	}
	http.Redirect(w, r, h.cfg.BasePath+"/approvals/"+id, http.StatusSeeOther)
}

// apiRequest is what the live-update endpoints say of a request: never the
// signed grant, which is a credential.
type apiRequest struct {
	ID       string    `json:"id"`
	Time     time.Time `json:"time"`
	Subject  string    `json:"sub"`
	Tool     string    `json:"tool"`
	Status   string    `json:"status"`
	Approver string    `json:"approver,omitempty"`
}

func apiOf(q tools.ApprovalRequest) apiRequest {
	return apiRequest{ID: q.ID, Time: q.Time, Subject: q.Subject, Tool: q.Tool, Status: q.Status, Approver: q.Approver}
}

// apiPending serves GET /api/approvals: the pending requests, which the inbox
// polls to update without reload.
func (h *Handler) apiPending(w http.ResponseWriter, r *http.Request) {
	reqs, err := h.cfg.Queue.List(r.Context(), tools.StatusPending)
	if err != nil {
		http.Error(w, "approval queue unavailable", http.StatusServiceUnavailable)
		return
	}
	out := make([]apiRequest, 0, len(reqs))
	for _, q := range reqs {
		out = append(out, apiOf(q))
	}
	writeJSON(w, out)
}

// apiRequestStatus serves GET /api/approvals/{id}, which a request page polls.
func (h *Handler) apiRequestStatus(w http.ResponseWriter, r *http.Request) {
	q, err := h.cfg.Queue.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		http.Error(w, "no such request", http.StatusNotFound)
		return
	}
	writeJSON(w, apiOf(q))
}

func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encoding failed", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}
