package audit

import (
	"encoding/json"
	"time"
)

// Phase says which point of a guarded call an [Event] records.
type Phase string

// The phases of a guarded call. Every call has exactly one decision event; a call
// whose tool ran also has exactly one outcome event.
const (
	PhaseDecision Phase = "decision" // recorded before the tool runs
	PhaseOutcome  Phase = "outcome"  // recorded after the tool returned
	// PhaseRecovery marks a record a log wrote itself when it was opened after a
	// crash; its Torn field says what was cut from the end of the log.
	PhaseRecovery Phase = "recovery"
	// PhasePolicy records a policy version being loaded, or rejected, by a running
	// enforcer.
	PhasePolicy Phase = "policy"
	// PhaseKill records a kill switch being activated or lifted, and by whom
	// (in Reasons; Code is "kill_activated" or "kill_lifted").
	PhaseKill Phase = "kill"
)

// Decision values of [Event.Decision].
const (
	Allow = "allow"
	Deny  = "deny"
)

// Outcome values of [Event.Outcome].
const (
	OutcomeOK     = "ok"     // the tool returned without error
	OutcomeError  = "error"  // the tool returned an error
	OutcomePanic  = "panic"  // the tool panicked; the guard recovered
	OutcomeDenied = "denied" // the tool did not run
)

// Event is one audit record: what was attempted, by whom, decided how and why, with
// what outcome.
//
// Field names in JSON follow the OpenTelemetry GenAI semantic conventions where one
// exists (gen_ai.tool.name, gen_ai.agent.id, gen_ai.conversation.id, …). The raw
// identity token is never recorded; arguments are recorded as a digest.
//
// Seq is assigned by sinks that order their records (the file sink numbers from 1);
// it is part of the record so that a later Merkle leaf hash covers it. Fields are only
// ever added, never renamed, so that old records keep their meaning.
type Event struct {
	Seq    uint64    `json:"seq,omitempty"`
	ID     string    `json:"id"`
	Time   time.Time `json:"time"`
	Phase  Phase     `json:"phase"`
	CallID string    `json:"gen_ai.tool.call.id"`
	Tool   string    `json:"gen_ai.tool.name"`

	// Decision is Allow or Deny; Code is the stable reason code of a denial
	// (see tools.DeniedError); Rules are the ids of the rules that decided; Reasons
	// their messages; Controls the control tags of those rules; Errors any rule
	// evaluation errors.
	Decision      string   `json:"decision"`
	Code          string   `json:"code,omitempty"`
	Rules         []string `json:"rules,omitempty"`
	Reasons       []string `json:"reasons,omitempty"`
	Controls      []string `json:"controls,omitempty"`
	Errors        []string `json:"errors,omitempty"`
	PolicyVersion string   `json:"policy.version,omitempty"`
	// Shadow lists the shadow-mode rules that matched; WouldFlip is set when
	// enforcing them would have reversed the decision.
	Shadow    []string `json:"shadow.rules,omitempty"`
	WouldFlip bool     `json:"shadow.would_flip,omitempty"`

	// Controls applied to the call. Secrets names the secrets injected into the
	// tool (never their values); Redacted the output paths that were redacted;
	// Grant the approval grant the call ran under; RetryAfter, on a rate-limit or
	// budget denial, when the caller may try again.
	Secrets    []string      `json:"secrets,omitempty"`
	Redacted   []string      `json:"redacted,omitempty"`
	Grant      *GrantUse     `json:"grant,omitempty"`
	RetryAfter time.Duration `json:"retry_after_ns,omitempty"`

	Identity Identity `json:"identity"`

	SessionID string `json:"gen_ai.conversation.id,omitempty"`
	PromptID  string `json:"prompt.id,omitempty"`
	TraceID   string `json:"trace_id,omitempty"`

	// ArgsDigest is "sha256:" and the hex SHA-256 of the canonical JSON of the
	// arguments; OutputDigest likewise for the output, when the tool ran.
	ArgsDigest string `json:"args.digest,omitempty"`
	// Args is the arguments as JSON, set only when the guard is configured to
	// record them (policy replay needs them).
	Args         json.RawMessage `json:"args,omitempty"`
	OutputDigest string          `json:"output.digest,omitempty"`
	// Output is the tool's output after redaction, as JSON. The guard sets it
	// only when configured to; by default only the digest is kept.
	Output json.RawMessage `json:"output,omitempty"`

	// Outcome is set on outcome events (and OutcomeDenied on denied decisions).
	Outcome  string        `json:"outcome,omitempty"`
	Duration time.Duration `json:"duration_ns,omitempty"`
	Error    string        `json:"error.message,omitempty"`
	// ErrorType classifies a failed outcome (OpenTelemetry error.type): the Go
	// type of the tool's error, "panic", "not_run", "bad_output" …. A denial's
	// class is its Code, not repeated here: [Event.ErrorClass] gives either.
	ErrorType string `json:"error.type,omitempty"`

	// Labels, on a decision that allowed a call, are the labels recorded in
	// its session for the output (the tool's and the policy's); History is what
	// the decision read of the session and principal history, for replay.
	Labels  []string    `json:"labels,omitempty"`
	History *HistoryUse `json:"history,omitempty"`

	// Torn is set on a [PhaseRecovery] record only.
	Torn *Torn `json:"torn,omitempty"`
}

// Torn describes the incomplete last line a crash left in a log: where it began,
// how long it was and its digest. A log cuts such a line when it is opened and
// records a [PhaseRecovery] event carrying this description, so the loss is
// itself part of the tamper-evident record.
type Torn struct {
	Segment string `json:"segment"`
	Offset  int64  `json:"offset"`
	Length  int64  `json:"length"`
	Digest  string `json:"digest"`
}

// GrantUse records the human approval a call ran under.
type GrantUse struct {
	ID       string `json:"jti"`
	Approver string `json:"approver"`
	Request  string `json:"request,omitempty"`
}

// Identity is the verified identity a call was made under, as recorded in an
// [Event]. It holds claims, never the token.
type Identity struct {
	Issuer        string   `json:"iss,omitempty"`
	Subject       string   `json:"sub,omitempty"`
	TokenID       string   `json:"jti,omitempty"`
	Agent         string   `json:"gen_ai.agent.id,omitempty"`
	Tenant        string   `json:"tenant,omitempty"`
	Env           string   `json:"env,omitempty"`
	ModelProvider string   `json:"gen_ai.provider.name,omitempty"`
	ModelName     string   `json:"gen_ai.request.model,omitempty"`
	ModelVersion  string   `json:"model.version,omitempty"`
	Scopes        []string `json:"scopes,omitempty"`
	// Act is the delegation chain, current actor first (RFC 8693).
	Act []string `json:"act,omitempty"`
}

// ErrorClass is the OpenTelemetry error.type of e: its ErrorType, or for a
// denial without one, its reason code; "" when e records no failure.
func (e *Event) ErrorClass() string {
	if e == nil {
		return ""
	}
	if e.ErrorType == "" && e.Decision == Deny {
		return e.Code
	}
	return e.ErrorType
}
