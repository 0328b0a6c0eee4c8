package postgres

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/modelguard/modelguard/identity"
)

// DB is what the store needs of a connection: a *pgxpool.Pool, a *pgx.Conn
// or a pgx.Tx.
type DB interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// Defaults of [Options].
const (
	defaultSchema         = "modelguard"
	defaultPurgeInterval  = time.Minute
	defaultMaxRevocations = 100000
)

// Options tunes a [Store]. The zero value is the default.
type Options struct {
	// Schema holds the store's tables. Empty means "modelguard". It must be a
	// plain identifier: letters, digits and underscores, not starting with a
	// digit.
	Schema string
	// PurgeInterval is how often a Use call also deletes the used token ids
	// and revocations that have expired, so the tables stay bounded by the
	// tokens live at once. Zero means one minute; negative
	// leaves purging to [Store.Purge].
	PurgeInterval time.Duration
	// MaxRevocations bounds the revocations in force that Revocations will
	// return; past it, it fails (and verifiers refuse tokens with
	// identity.ErrStore) rather than hand over a partial list. Zero means
	// 100,000.
	MaxRevocations int
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// Store is an [identity.Store] kept in PostgreSQL, so that every application
// instance that uses the same database and schema shares replay and
// revocation state. It is safe for concurrent use.
type Store struct {
	db             DB
	used, revoked  string // qualified, quoted table names
	schema         string
	purgeEvery     time.Duration
	maxRevocations int
	now            func() time.Time
	nextPurge      atomic.Int64 // Unix nanoseconds
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// New returns a store on db. Call [Store.Init] once to create its tables.
func New(db DB, opts Options) (*Store, error) {
	schema := opts.Schema
	if schema == "" {
		schema = defaultSchema
	}
	var errs []error
	if db == nil {
		errs = append(errs, fmt.Errorf("postgres: store needs a database: %w", identity.ErrConfig))
	}
	if !identifier.MatchString(schema) {
		errs = append(errs, fmt.Errorf("postgres: schema %.80q is not a plain identifier: %w", schema, identity.ErrConfig))
	}
	if opts.MaxRevocations < 0 {
		errs = append(errs, fmt.Errorf("postgres: negative MaxRevocations: %w", identity.ErrConfig))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s := &Store{db: db, schema: schema, now: opts.Now,
		used:           pgx.Identifier{schema, "used_tokens"}.Sanitize(),
		revoked:        pgx.Identifier{schema, "revocations"}.Sanitize(),
		purgeEvery:     opts.PurgeInterval,
		maxRevocations: opts.MaxRevocations}
	if s.purgeEvery == 0 {
		s.purgeEvery = defaultPurgeInterval
	}
	if s.maxRevocations == 0 {
		s.maxRevocations = defaultMaxRevocations
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// Init creates the schema and tables if they do not exist. It is safe to run
// from several instances at once and again on every start.
func (s *Store) Init(ctx context.Context) error {
	stmts := []string{
		`CREATE SCHEMA IF NOT EXISTS ` + pgx.Identifier{s.schema}.Sanitize(),
		`CREATE TABLE IF NOT EXISTS ` + s.used + ` (
			issuer text NOT NULL,
			jti text NOT NULL,
			until timestamptz NOT NULL,
			PRIMARY KEY (issuer, jti))`,
		`CREATE INDEX IF NOT EXISTS used_tokens_until ON ` + s.used + ` (until)`,
		`CREATE TABLE IF NOT EXISTS ` + s.revoked + ` (
			kind text NOT NULL,
			issuer text NOT NULL,
			value text NOT NULL,
			expires timestamptz,
			reason text NOT NULL DEFAULT '',
			created timestamptz NOT NULL DEFAULT now(),
			PRIMARY KEY (kind, issuer, value))`,
	}
	// One simple-protocol query runs as one implicit transaction: the advisory
	// lock, keyed on the schema, serializes instances starting at once, whose
	// CREATE … IF NOT EXISTS would otherwise race (PostgreSQL reports
	// "already exists" to the loser). The schema is a checked plain identifier.
	lock := `SELECT pg_advisory_xact_lock(hashtext('modelguard_identity:` + s.schema + `'))`
	q := strings.Join(append([]string{lock}, stmts...), ";\n")
	if _, err := s.db.Exec(ctx, q); err != nil {
		return fmt.Errorf("postgres: init: %w", err)
	}
	return nil
}

// Use implements [identity.Store]. The insert and the replay test are one
// statement, so two instances racing with the same token cannot both win: the
// row is written only if it is new or its until has passed.
func (s *Store) Use(ctx context.Context, issuer, jti string, until time.Time) error {
	now := s.now()
	s.maybePurge(ctx, now)
	tag, err := s.db.Exec(ctx, `INSERT INTO `+s.used+` AS u (issuer, jti, until) VALUES ($1, $2, $3)
		ON CONFLICT (issuer, jti) DO UPDATE SET until = EXCLUDED.until WHERE u.until <= $4`,
		issuer, jti, until, now)
	if err != nil {
		return fmt.Errorf("postgres: record token use: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: jti %.64q of %.128q was already used: %w", jti, issuer, identity.ErrReplay)
	}
	return nil
}

// maybePurge runs Purge if the purge interval has passed since the last one.
// Its failure is not Use's: the next call tries again.
func (s *Store) maybePurge(ctx context.Context, now time.Time) {
	next := s.nextPurge.Load()
	if s.purgeEvery < 0 || now.UnixNano() < next || !s.nextPurge.CompareAndSwap(next, now.Add(s.purgeEvery).UnixNano()) {
		return
	}
	_, _ = s.Purge(ctx)
}

// Purge deletes the used token ids and the revocations that have expired, and
// returns how many rows it deleted.
func (s *Store) Purge(ctx context.Context) (int64, error) {
	now := s.now()
	a, err := s.db.Exec(ctx, `DELETE FROM `+s.used+` WHERE until <= $1`, now)
	if err != nil {
		return 0, fmt.Errorf("postgres: purge: %w", err)
	}
	b, err := s.db.Exec(ctx, `DELETE FROM `+s.revoked+` WHERE expires <= $1`, now)
	if err != nil {
		return a.RowsAffected(), fmt.Errorf("postgres: purge: %w", err)
	}
	return a.RowsAffected() + b.RowsAffected(), nil
}

// Revoke records r, replacing the expiry and reason of an earlier revocation
// of the same kind, issuer and value. Every verifier on the store refuses the
// tokens it matches within its RevocationInterval.
func (s *Store) Revoke(ctx context.Context, r identity.Revocation) error {
	if err := r.Validate(); err != nil {
		return err
	}
	_, err := s.db.Exec(ctx, `INSERT INTO `+s.revoked+` (kind, issuer, value, expires, reason) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (kind, issuer, value) DO UPDATE SET expires = EXCLUDED.expires, reason = EXCLUDED.reason`,
		string(r.Kind), r.Issuer, r.Value, nullTime(r.Expires), r.Reason)
	if err != nil {
		return fmt.Errorf("postgres: revoke: %w", err)
	}
	return nil
}

// Revocations implements [identity.Store]: every revocation whose expiry has
// not passed.
func (s *Store) Revocations(ctx context.Context) ([]identity.Revocation, error) {
	rows, err := s.db.Query(ctx, `SELECT kind, issuer, value, expires, reason FROM `+s.revoked+`
		WHERE expires IS NULL OR expires > $1 LIMIT $2`, s.now(), s.maxRevocations+1)
	if err != nil {
		return nil, fmt.Errorf("postgres: load revocations: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanRevocation)
	if err != nil {
		return nil, fmt.Errorf("postgres: load revocations: %w", err)
	}
	if len(out) > s.maxRevocations {
		return nil, fmt.Errorf("postgres: more than %d revocations in force", s.maxRevocations)
	}
	return out, nil
}

func scanRevocation(row pgx.CollectableRow) (identity.Revocation, error) {
	var r identity.Revocation
	var kind string
	var expires *time.Time
	if err := row.Scan(&kind, &r.Issuer, &r.Value, &expires, &r.Reason); err != nil {
		return r, err
	}
	r.Kind = identity.RevocationKind(kind)
	if expires != nil {
		r.Expires = *expires
	}
	return r, nil
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}
