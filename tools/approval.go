package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Approval errors.
var (
	// ErrApprovalRequired: the policy allows the call only under a human
	// approval grant, and the call has none that is valid. The denial carries the
	// approval request that was filed ([DeniedError].Approval).
	ErrApprovalRequired = errors.New("tools: approval required")
	// ErrGrantUsed: a single-use grant was already used.
	ErrGrantUsed = errors.New("tools: approval grant already used")
	// ErrNoRequest: no approval request has that id.
	ErrNoRequest = errors.New("tools: no such approval request")
	// ErrDecided: the approval request was already approved or denied.
	ErrDecided = errors.New("tools: approval request already decided")
	// ErrTooManyRequests: the identity already has MaxPendingRequests requests
	// waiting; no more are filed until a human decides some, so that a model
	// cannot flood its approvers.
	ErrTooManyRequests = errors.New("tools: too many pending approval requests")
)

// MaxPendingRequests bounds the pending approval requests of one identity in
// the built-in queues.
const MaxPendingRequests = 32

// Approval request statuses.
const (
	StatusPending  = "pending"
	StatusApproved = "approved"
	StatusDenied   = "denied"
)

// ApprovalRequest asks a human to approve one call (or, for an elevation, a
// class of calls): who asked, for which tool, with which arguments and why.
type ApprovalRequest struct {
	ID         string          `json:"id"`
	Time       time.Time       `json:"time"`
	Issuer     string          `json:"iss"`
	Subject    string          `json:"sub"`
	Agent      string          `json:"agent,omitempty"`
	Tenant     string          `json:"tenant,omitempty"`
	Tool       string          `json:"tool"`
	ArgsDigest string          `json:"args_digest"`
	Args       json.RawMessage `json:"args,omitempty"` // what the human approves
	Reason     string          `json:"reason"`
	Rules      []string        `json:"rules,omitempty"`
	Status     string          `json:"status"`
	Approver   string          `json:"approver,omitempty"`
	Grant      string          `json:"grant,omitempty"` // the signed grant, once approved
	Decided    time.Time       `json:"decided,omitzero"`
	Note       string          `json:"note,omitempty"`
}

// Approvals is what a guard needs of an approval queue: to file requests and to
// find grants approved for a call. Single-use grants are spent through
// [ApprovalOptions].Used, the one-time-use store tokens use too.
type Approvals interface {
	// Request files req as pending. If a pending request for the same issuer,
	// subject, tool and argument digest exists, it returns that one. (The guard
	// asks only when no approved grant covers the call, so an approved request
	// whose grant is spent or expired gets a new request, which a human can
	// approve again.)
	Request(ctx context.Context, req ApprovalRequest) (ApprovalRequest, error)
	// Grants returns the signed grants approved for the subject and tool. The
	// guard verifies each; the queue is not trusted to.
	Grants(ctx context.Context, issuer, subject, tool string) ([]string, error)
}

// ApprovalQueue is the approver's side of a queue: list, inspect, approve and deny
// requests. `modelguard approve` works against one.
type ApprovalQueue interface {
	Approvals
	List(ctx context.Context, status string) ([]ApprovalRequest, error)
	Get(ctx context.Context, id string) (ApprovalRequest, error)
	// Approve marks the request approved with the signed grant.
	Approve(ctx context.Context, id, approver, grant string) error
	// Deny marks the request denied.
	Deny(ctx context.Context, id, approver, note string) error
}

// MemoryApprovals is an in-process [ApprovalQueue]. It is safe for concurrent use;
// its zero value is not: use [NewMemoryApprovals]. State is lost with the process
// and not shared between instances; use the PostgreSQL queue for that.
type MemoryApprovals struct {
	mu   sync.Mutex
	reqs []ApprovalRequest
	now  func() time.Time
	seq  int
}

// built reports whether m was built by [NewMemoryApprovals]: a zero or nil
// queue is an error, never a panic.
func (m *MemoryApprovals) built() error {
	if m == nil || m.now == nil {
		return fmt.Errorf("tools: MemoryApprovals: %w (use NewMemoryApprovals)", ErrNotReady)
	}
	return nil
}

// NewMemoryApprovals returns an empty queue; now is its clock (nil: time.Now).
func NewMemoryApprovals(now func() time.Time) *MemoryApprovals {
	if now == nil {
		now = time.Now
	}
	return &MemoryApprovals{now: now}
}

func (m *MemoryApprovals) Request(_ context.Context, req ApprovalRequest) (ApprovalRequest, error) {
	if err := m.built(); err != nil {
		return ApprovalRequest{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	pending := 0
	for _, r := range m.reqs {
		if r.Issuer != req.Issuer || r.Subject != req.Subject || r.Status != StatusPending {
			continue
		}
		if r.Tool == req.Tool && r.ArgsDigest == req.ArgsDigest {
			return r, nil
		}
		pending++
	}
	if pending >= MaxPendingRequests {
		return ApprovalRequest{}, fmt.Errorf("%w: %s has %d", ErrTooManyRequests, req.Subject, pending)
	}
	m.seq++
	req.ID = fmt.Sprintf("apr-%d", m.seq)
	req.Status = StatusPending
	if req.Time.IsZero() {
		req.Time = m.now()
	}
	m.reqs = append(m.reqs, req)
	return req, nil
}

func (m *MemoryApprovals) Grants(_ context.Context, issuer, subject, tool string) ([]string, error) {
	if err := m.built(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, r := range m.reqs {
		if r.Status == StatusApproved && r.Issuer == issuer && r.Subject == subject && r.Tool == tool {
			out = append(out, r.Grant)
		}
	}
	return out, nil
}

func (m *MemoryApprovals) List(_ context.Context, status string) ([]ApprovalRequest, error) {
	if err := m.built(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []ApprovalRequest
	for _, r := range m.reqs {
		if status == "" || r.Status == status {
			out = append(out, r)
		}
	}
	return out, nil
}

func (m *MemoryApprovals) Get(_ context.Context, id string) (ApprovalRequest, error) {
	if err := m.built(); err != nil {
		return ApprovalRequest{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	i := slices.IndexFunc(m.reqs, func(r ApprovalRequest) bool { return r.ID == id })
	if i < 0 {
		return ApprovalRequest{}, fmt.Errorf("%w: %s", ErrNoRequest, id)
	}
	return m.reqs[i], nil
}

func (m *MemoryApprovals) Approve(ctx context.Context, id, approver, grant string) error {
	return m.decide(id, func(r *ApprovalRequest) { r.Status, r.Approver, r.Grant = StatusApproved, approver, grant })
}

func (m *MemoryApprovals) Deny(ctx context.Context, id, approver, note string) error {
	return m.decide(id, func(r *ApprovalRequest) { r.Status, r.Approver, r.Note = StatusDenied, approver, note })
}

func (m *MemoryApprovals) decide(id string, fn func(*ApprovalRequest)) error {
	if err := m.built(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	i := slices.IndexFunc(m.reqs, func(r ApprovalRequest) bool { return r.ID == id })
	if i < 0 {
		return fmt.Errorf("%w: %s", ErrNoRequest, id)
	}
	if m.reqs[i].Status != StatusPending {
		return fmt.Errorf("%w: %s is %s", ErrDecided, id, m.reqs[i].Status)
	}
	fn(&m.reqs[i])
	m.reqs[i].Decided = m.now()
	return nil
}
