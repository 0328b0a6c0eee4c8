package console

import (
	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/tools"
)

// originKey names the denial that filed a request: who, which tool, which
// arguments.
type originKey struct{ iss, sub, tool, digest string }

// origins finds, in the audit log, the approval_required denial that filed
// each request: the log knows what the queue does not keep — the session and
// prompt the call came from and the identity's delegation chain. Without a log,
// or for a request the log does not show, there is no origin.
func (h *Handler) origins(reqs []tools.ApprovalRequest) map[originKey]*audit.Event {
	if h.cfg.Log == nil || len(reqs) == 0 {
		return nil
	}
	want := map[originKey]bool{}
	for _, q := range reqs {
		want[originKey{q.Issuer, q.Subject, q.Tool, q.ArgsDigest}] = true
	}
	out := map[originKey]*audit.Event{}
	f := audit.Filter{Decision: audit.Deny}
	if len(reqs) == 1 {
		f.Subject, f.Tool = reqs[0].Subject, reqs[0].Tool
	}
	// The latest denial wins: a request filed again after its grant was spent
	// is the newest one.
	_ = h.log().Query(f, func(e audit.Event) error {
		k := originKey{e.Identity.Issuer, e.Identity.Subject, e.Tool, e.ArgsDigest}
		if e.Code == string(tools.CodeApprovalRequired) && want[k] {
			out[k] = &e
		}
		return nil
	})
	return out
}

func (h *Handler) withOrigins(reqs []tools.ApprovalRequest) []reqView {
	o := h.origins(reqs)
	out := make([]reqView, 0, len(reqs))
	for _, q := range reqs {
		rv := h.reqView(q)
		rv.Origin = o[originKey{q.Issuer, q.Subject, q.Tool, q.ArgsDigest}]
		out = append(out, rv)
	}
	return out
}
