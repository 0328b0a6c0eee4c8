// Package console is the operator console: an [http.Handler] where human
// approvers decide the approval requests guards file (approvals inbox,
// approve once, approve a temporary elevation, deny with a reason) against any
// [tools.ApprovalQueue] — the PostgreSQL queue (tools/approvalpg) makes it
// work across instances.
//
// # Approvals
//
// Approve once ([KindOnce]) signs a single-use grant bound to the request's
// exact arguments digest, expiring when the approver chooses within
// Config.MaxGrantTTL. A temporary elevation ([KindElevate]) signs a reusable
// grant for the request's tool, narrowed by an optional CEL constraint the
// approver types ("args.amount_cents <= 50000"), lasting at most
// Config.MaxElevationTTL. Pages update without reload: a small embedded
// script (no inline script) polls GET /api/approvals and
// /api/approvals/{id} and re-fetches the page when what they say changes,
// so requests filed or decided on any instance appear.
//
// # Session explorer and identities
//
// With Config.Log set, GET /sessions searches the audit log (by agent,
// subject, tool, session, prompt, decision and time), GET /sessions/{id}
// shows one session's timeline — decisions, outcomes, deciding rules and
// reasons, grants and their approvers, secret names, redacted paths, digests
// and any recorded arguments and outputs, labels and history facts — and GET
// /identities lists each
// model identity seen, most recently seen first, and with Config.Policy what
// the policy lets it call (package policy/access). Every timeline record is
// proven on the server: an inclusion proof against the log's latest signed
// checkpoint ([audit.Log.Prove]), checked with Config.LogKeys
// ([audit.InclusionProof.Verify]); the page shows it verified, or unverified
// with the reason (not yet checkpointed, changed on disk, no trusted key).
// A record proven is shown as the proof holds it.
//
// # Notifications
//
// [Notify] wraps the queue a guard files into so that a [Notifier] hears of
// each new request; [Webhook] posts a Slack-compatible JSON body signed with
// HMAC-SHA256 ([HeaderSignature], checked by [VerifyWebhook]), carrying the
// approval link but never the arguments.
//
// Security rules, each enforced in one place:
//   - Every request is authenticated: a bearer token (Authorization header, or
//     the HttpOnly, SameSite=Strict session cookie set by POST /login) verified
//     by an [identity.Verifier] with the console's own audience. There is no
//     anonymous mode. Opt-in ([ProxyAuth]): an identity header set by an
//     authenticating proxy, trusted only from the proxy's addresses.
//   - Roles come from claims: "roles" (list) or "role" (string) holding
//     "approver" or "viewer". An identity with model or agent claims is a model
//     and is never an approver.
//   - Every POST carries a CSRF token (form field "csrf"), an HMAC of the
//     caller's token under Config.CSRFSecret (shared by instances behind one
//     load balancer; random per console when unset).
//   - Pages are html/template (contextual escaping of everything from the log),
//     served with a strict Content-Security-Policy allowing no inline script.
//   - An approver cannot approve a request under their own subject
//     ([tools.ErrSelfApproval]); grants are signed by [tools.ApproveRequest], the
//     same path as `modelguard approve grant`.
//   - Every console action is recorded in the audit log (phase "console") with
//     the approver.
//
// Paths: GET / (inbox), GET /approvals/{id} (one request: usable as the MCP
// URL-elicitation approval URL template https://host/approvals/{id}), POST
// /approvals/{id}/approve (fields csrf, kind, ttl, constraint), POST
// /approvals/{id}/deny (csrf, reason), POST /login, POST /logout, GET
// /api/approvals, GET /api/approvals/{id}, all below Config.BasePath.
package console
