package approvalpg

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/modelguard/modelguard/tools"
)

// Options configure a [Queue]. The zero value uses a table named
// modelguard_approvals in the search path.
type Options struct {
	// Prefix replaces "modelguard_" in the table names (letters, digits and _).
	Prefix string
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Queue is a [tools.ApprovalQueue] in PostgreSQL. It is safe for concurrent use.
type Queue struct {
	db       *pgxpool.Pool
	requests string
	now      func() time.Time
}

var _ tools.ApprovalQueue = (*Queue)(nil)

var validPrefix = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// New creates the queue's tables if they do not exist and returns the queue.
func New(ctx context.Context, db *pgxpool.Pool, opts Options) (*Queue, error) {
	prefix := opts.Prefix
	if prefix == "" {
		prefix = "modelguard_"
	}
	if !validPrefix.MatchString(prefix) {
		return nil, fmt.Errorf("approvalpg: bad table prefix %q", prefix)
	}
	q := &Queue{db: db, requests: prefix + "approvals", now: opts.Now}
	if q.now == nil {
		q.now = time.Now
	}
	if _, err := db.Exec(ctx, q.schema()); err != nil {
		return nil, fmt.Errorf("approvalpg: create tables: %w", err)
	}
	return q, nil
}

func (q *Queue) schema() string {
	return fmt.Sprintf(`
CREATE TABLE IF NOT EXISTS %[1]s (
	id          text PRIMARY KEY,
	created     timestamptz NOT NULL,
	iss         text NOT NULL,
	sub         text NOT NULL,
	agent       text NOT NULL DEFAULT '',
	tenant      text NOT NULL DEFAULT '',
	tool        text NOT NULL,
	args_digest text NOT NULL,
	args        jsonb,
	reason      text NOT NULL DEFAULT '',
	rules       text[] NOT NULL DEFAULT '{}',
	status      text NOT NULL,
	approver    text NOT NULL DEFAULT '',
	grant_token text NOT NULL DEFAULT '',
	decided     timestamptz,
	note        text NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX IF NOT EXISTS %[2]s ON %[1]s (iss, sub, tool, args_digest) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS %[3]s ON %[1]s (iss, sub, tool, status);`, pgx.Identifier{q.requests}.Sanitize(),
		pgx.Identifier{q.requests + "_open"}.Sanitize(), pgx.Identifier{q.requests + "_lookup"}.Sanitize())
}

func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "apr-" + hex.EncodeToString(b[:])
}

const columns = `id, created, iss, sub, agent, tenant, tool, args_digest, args, reason, rules, status, approver, grant_token, decided, note`

func scan(row pgx.Row) (tools.ApprovalRequest, error) {
	var r tools.ApprovalRequest
	var decided *time.Time
	var args []byte
	err := row.Scan(&r.ID, &r.Time, &r.Issuer, &r.Subject, &r.Agent, &r.Tenant, &r.Tool, &r.ArgsDigest, &args,
		&r.Reason, &r.Rules, &r.Status, &r.Approver, &r.Grant, &decided, &r.Note)
	if decided != nil {
		r.Decided = decided.UTC()
	}
	r.Time = r.Time.UTC()
	r.Args = args
	return r, err
}

// Request files req, or returns the pending request for the same call.
func (q *Queue) Request(ctx context.Context, req tools.ApprovalRequest) (tools.ApprovalRequest, error) {
	if req.Time.IsZero() {
		req.Time = q.now()
	}
	if r, err := q.pending(ctx, req); err == nil {
		return r, nil // the same call is already waiting
	}
	var n int
	if err := q.db.QueryRow(ctx, fmt.Sprintf(`SELECT count(*) FROM %s WHERE iss=$1 AND sub=$2 AND status='pending'`,
		pgx.Identifier{q.requests}.Sanitize()), req.Issuer, req.Subject).Scan(&n); err != nil {
		return tools.ApprovalRequest{}, fmt.Errorf("approvalpg: count requests: %w", err)
	}
	if n >= tools.MaxPendingRequests {
		return tools.ApprovalRequest{}, fmt.Errorf("%w: %s has %d", tools.ErrTooManyRequests, req.Subject, n)
	}
	var args any
	if len(req.Args) > 0 {
		args = string(req.Args)
	}
	_, err := q.db.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (id, created, iss, sub, agent, tenant, tool, args_digest, args, reason, rules, status)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,'pending')
		ON CONFLICT (iss, sub, tool, args_digest) WHERE status = 'pending' DO NOTHING`, pgx.Identifier{q.requests}.Sanitize()),
		newID(), req.Time, req.Issuer, req.Subject, req.Agent, req.Tenant, req.Tool, req.ArgsDigest, args, req.Reason, nonNil(req.Rules))
	if err != nil {
		return tools.ApprovalRequest{}, fmt.Errorf("approvalpg: file request: %w", err)
	}
	r, err := q.pending(ctx, req)
	if err != nil {
		return tools.ApprovalRequest{}, fmt.Errorf("approvalpg: read request: %w", err)
	}
	return r, nil
}

// pending returns the pending request for the same call as req.
func (q *Queue) pending(ctx context.Context, req tools.ApprovalRequest) (tools.ApprovalRequest, error) {
	return scan(q.db.QueryRow(ctx, fmt.Sprintf(`SELECT %s FROM %s WHERE iss=$1 AND sub=$2 AND tool=$3 AND args_digest=$4 AND status = 'pending'`,
		columns, pgx.Identifier{q.requests}.Sanitize()), req.Issuer, req.Subject, req.Tool, req.ArgsDigest))
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Grants returns the approved grants for the subject and tool.
func (q *Queue) Grants(ctx context.Context, issuer, subject, tool string) ([]string, error) {
	rows, err := q.db.Query(ctx, fmt.Sprintf(`SELECT grant_token FROM %s WHERE iss=$1 AND sub=$2 AND tool=$3 AND status='approved' ORDER BY decided`,
		pgx.Identifier{q.requests}.Sanitize()), issuer, subject, tool)
	if err != nil {
		return nil, fmt.Errorf("approvalpg: find grants: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("approvalpg: find grants: %w", err)
	}
	return out, nil
}

// List returns the requests with status (all when empty), oldest first.
func (q *Queue) List(ctx context.Context, status string) ([]tools.ApprovalRequest, error) {
	rows, err := q.db.Query(ctx, fmt.Sprintf(`SELECT %s FROM %s WHERE $1 = '' OR status = $1 ORDER BY created, id`,
		columns, pgx.Identifier{q.requests}.Sanitize()), status)
	if err != nil {
		return nil, fmt.Errorf("approvalpg: list: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tools.ApprovalRequest, error) { return scan(r) })
	if err != nil {
		return nil, fmt.Errorf("approvalpg: list: %w", err)
	}
	return out, nil
}

// Get returns one request.
func (q *Queue) Get(ctx context.Context, id string) (tools.ApprovalRequest, error) {
	r, err := scan(q.db.QueryRow(ctx, fmt.Sprintf(`SELECT %s FROM %s WHERE id=$1`, columns, pgx.Identifier{q.requests}.Sanitize()), id))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("%w: %s", tools.ErrNoRequest, id)
	}
	if err != nil {
		return r, fmt.Errorf("approvalpg: get %s: %w", id, err)
	}
	return r, nil
}

// Approve marks a pending request approved with its signed grant.
func (q *Queue) Approve(ctx context.Context, id, approver, grant string) error {
	return q.decide(ctx, id, tools.StatusApproved, approver, grant, "")
}

// Deny marks a pending request denied.
func (q *Queue) Deny(ctx context.Context, id, approver, note string) error {
	return q.decide(ctx, id, tools.StatusDenied, approver, "", note)
}

func (q *Queue) decide(ctx context.Context, id, status, approver, grant, note string) error {
	tag, err := q.db.Exec(ctx, fmt.Sprintf(`UPDATE %s SET status=$2, approver=$3, grant_token=$4, note=$5, decided=$6
		WHERE id=$1 AND status='pending'`, pgx.Identifier{q.requests}.Sanitize()), id, status, approver, grant, note, q.now())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return fmt.Errorf("approvalpg: decide %s: %s", id, pgErr.Message)
	}
	if err != nil {
		return fmt.Errorf("approvalpg: decide %s: %w", id, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	r, err := q.Get(ctx, id)
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: %s is %s", tools.ErrDecided, id, r.Status)
}
