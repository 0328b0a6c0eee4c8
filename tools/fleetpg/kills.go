package fleetpg

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/tools"
)

// KillOptions configure [Kills]. The zero value uses the table
// modelguard_kills, polls every second and fails closed after 5 seconds
// without a refresh.
type KillOptions struct {
	// Prefix replaces "modelguard_" in the table and channel names (letters,
	// digits and _).
	Prefix string
	// Poll is the longest time between two refreshes of the view when no
	// notification arrives. Default 1s.
	Poll time.Duration
	// MaxStale is how long the view is trusted after its last successful
	// refresh; past it every call is denied. Default 5s; at least 2×Poll.
	MaxStale time.Duration
	// Sink, if set, gets an audit event for each activation and lift made
	// through this value.
	Sink audit.Sink
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Kills is a [tools.KillSwitch] shared through PostgreSQL. Activate, Lift and
// List work on the table directly; Stopped answers from the view that Run keeps
// fresh. It is safe for concurrent use.
type Kills struct {
	db       *pgxpool.Pool
	table    string
	channel  string
	poll     time.Duration
	maxStale time.Duration
	sink     audit.Sink
	now      func() time.Time

	view      tools.KillSet
	refreshed atomic.Int64 // unix nanoseconds of the last good refresh; 0: never
	mu        sync.Mutex   // guards lastErr
	lastErr   error
}

var _ tools.KillSwitch = (*Kills)(nil)

var validPrefix = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func prefixOf(p string) (string, error) {
	if p == "" {
		p = "modelguard_"
	}
	if !validPrefix.MatchString(p) {
		return "", fmt.Errorf("fleetpg: bad table prefix %q", p)
	}
	return p, nil
}

// NewKills creates the kill table if it does not exist, loads the active kills
// once and returns the switch. Call Run to keep its view fresh.
func NewKills(ctx context.Context, db *pgxpool.Pool, opts KillOptions) (*Kills, error) {
	if db == nil {
		return nil, errors.New("fleetpg: nil pool")
	}
	prefix, err := prefixOf(opts.Prefix)
	if err != nil {
		return nil, err
	}
	k := &Kills{db: db, table: prefix + "kills", channel: prefix + "kills", poll: opts.Poll, maxStale: opts.MaxStale,
		sink: opts.Sink, now: opts.Now}
	if k.poll <= 0 {
		k.poll = time.Second
	}
	if k.maxStale <= 0 {
		k.maxStale = 5 * time.Second
	}
	if k.maxStale < 2*k.poll {
		return nil, fmt.Errorf("fleetpg: MaxStale %v must be at least twice Poll %v", k.maxStale, k.poll)
	}
	if k.now == nil {
		k.now = time.Now
	}
	t := pgx.Identifier{k.table}.Sanitize()
	if _, err := db.Exec(ctx, fmt.Sprintf(`
CREATE TABLE IF NOT EXISTS %[1]s (
	id          bigserial PRIMARY KEY,
	scope       text NOT NULL,
	value       text NOT NULL DEFAULT '',
	by          text NOT NULL,
	reason      text NOT NULL DEFAULT '',
	at          timestamptz NOT NULL,
	lifted_by   text,
	lifted_at   timestamptz
);
CREATE INDEX IF NOT EXISTS %[2]s ON %[1]s (id) WHERE lifted_at IS NULL;`, t, pgx.Identifier{k.table + "_active"}.Sanitize())); err != nil {
		return nil, fmt.Errorf("fleetpg: create kill table: %w", err)
	}
	if err := k.Refresh(ctx); err != nil {
		return nil, err
	}
	return k, nil
}

// Stopped implements [tools.KillSwitch] from the in-memory view; it fails closed
// when the view is older than MaxStale.
func (k *Kills) Stopped(ctx context.Context, c *identity.Claims, tool string) (*tools.Kill, error) {
	if k == nil {
		return nil, errors.New("fleetpg: nil Kills")
	}
	if age := k.now().Sub(time.Unix(0, k.refreshed.Load())); age > k.maxStale {
		k.mu.Lock()
		last := k.lastErr
		k.mu.Unlock()
		return nil, fmt.Errorf("fleetpg: kill switch view is %v old (max %v); last refresh error: %v",
			age.Round(time.Millisecond), k.maxStale, last)
	}
	return k.view.Stopped(ctx, c, tool)
}

// Refresh reloads the active kills into the view.
func (k *Kills) Refresh(ctx context.Context) error { return k.refresh(ctx, k.db) }

// refresh reloads the view through q: Run's listening connection, so that a
// notification is acted on at once even when every pooled connection is
// busy with calls.
func (k *Kills) refresh(ctx context.Context, q querier) error {
	if k == nil || k.db == nil {
		return errNotBuilt
	}
	kills, err := k.list(ctx, q)
	if err != nil {
		k.mu.Lock()
		k.lastErr = err
		k.mu.Unlock()
		return err
	}
	k.view.Replace(kills, nil)
	k.refreshed.Store(k.now().UnixNano())
	return nil
}

// Run keeps the view fresh until ctx is done: it listens on the kill channel
// and refreshes on every notification, and at least every Poll. After a
// failure (database down, connection lost) it reconnects every Poll.
func (k *Kills) Run(ctx context.Context) {
	for ctx.Err() == nil {
		err := k.listen(ctx)
		if ctx.Err() != nil {
			return
		}
		k.mu.Lock()
		k.lastErr = err
		k.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(k.poll):
		}
	}
}

func (k *Kills) listen(ctx context.Context) error {
	conn, err := k.db.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{k.channel}.Sanitize()); err != nil {
		conn.Conn().Close(ctx) // never hand a listening connection back to the pool
		return err
	}
	defer func() {
		// UNLISTEN before the connection goes back to the pool; if that fails,
		// close it instead.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, "UNLISTEN *"); err != nil {
			conn.Conn().Close(uctx)
		}
	}()
	if err := k.refresh(ctx, conn); err != nil { // whatever was missed while not listening
		return err
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, k.poll)
		_, err := conn.Conn().WaitForNotification(wctx)
		cancel()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
		if err := k.refresh(ctx, conn); err != nil {
			return err
		}
	}
}

// Activate stores kill (which must pass [tools.Kill.Check]; its ID and At are
// assigned here) and notifies every instance. It returns the stored kill.
func (k *Kills) Activate(ctx context.Context, kill tools.Kill) (tools.Kill, error) {
	kill.ID, kill.At = "", k.now().UTC()
	if err := kill.Check(); err != nil {
		return tools.Kill{}, err
	}
	var id int64
	err := pgx.BeginFunc(ctx, k.db, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, fmt.Sprintf(`INSERT INTO %s (scope, value, by, reason, at) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
			pgx.Identifier{k.table}.Sanitize()), string(kill.Scope), kill.Value, kill.By, kill.Reason, kill.At).Scan(&id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, k.channel, strconv.FormatInt(id, 10))
		return err
	})
	if err != nil {
		return tools.Kill{}, fmt.Errorf("fleetpg: activate kill switch: %w", err)
	}
	kill.ID = strconv.FormatInt(id, 10)
	_ = k.Refresh(ctx) // this instance stops at once; others on the notification
	return kill, k.record(ctx, "kill_activated", kill, kill.By)
}

// Lift ends the kill with id, recording who lifted it, and notifies every
// instance. Lifting a kill that is not active is an error.
func (k *Kills) Lift(ctx context.Context, id, by string) (tools.Kill, error) {
	if by == "" {
		return tools.Kill{}, errors.New("fleetpg: a lift must say who lifted the kill switch")
	}
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return tools.Kill{}, fmt.Errorf("fleetpg: kill switch id %q is not a number", id)
	}
	var kill tools.Kill
	err = pgx.BeginFunc(ctx, k.db, func(tx pgx.Tx) error {
		row := tx.QueryRow(ctx, fmt.Sprintf(`UPDATE %s SET lifted_by = $2, lifted_at = $3 WHERE id = $1 AND lifted_at IS NULL
RETURNING id, scope, value, by, reason, at`, pgx.Identifier{k.table}.Sanitize()), n, by, k.now().UTC())
		if err := scanKill(row, &kill); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("no active kill switch %s", id)
			}
			return err
		}
		_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, k.channel, id)
		return err
	})
	if err != nil {
		return tools.Kill{}, fmt.Errorf("fleetpg: lift kill switch: %w", err)
	}
	_ = k.Refresh(ctx)
	return kill, k.record(ctx, "kill_lifted", kill, by)
}

// List returns the active kills, oldest first.
func (k *Kills) List(ctx context.Context) ([]tools.Kill, error) { return k.list(ctx, k.db) }

var errNotBuilt = errors.New("fleetpg: Kills not built by NewKills")

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func (k *Kills) list(ctx context.Context, q querier) ([]tools.Kill, error) {
	if k == nil || k.db == nil {
		return nil, errNotBuilt
	}
	rows, err := q.Query(ctx, fmt.Sprintf(`SELECT id, scope, value, by, reason, at FROM %s WHERE lifted_at IS NULL ORDER BY id`,
		pgx.Identifier{k.table}.Sanitize()))
	if err != nil {
		return nil, fmt.Errorf("fleetpg: list kill switches: %w", err)
	}
	defer rows.Close()
	var out []tools.Kill
	for rows.Next() {
		var kill tools.Kill
		if err := scanKill(rows, &kill); err != nil {
			return nil, fmt.Errorf("fleetpg: list kill switches: %w", err)
		}
		out = append(out, kill)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("fleetpg: list kill switches: %w", err)
	}
	return out, nil
}

// History is one activation, and its lift if any.
type History struct {
	tools.Kill
	LiftedBy string
	LiftedAt time.Time // zero while active
}

// History returns every kill ever activated, newest first, at most limit.
func (k *Kills) History(ctx context.Context, limit int) ([]History, error) {
	rows, err := k.db.Query(ctx, fmt.Sprintf(`SELECT id, scope, value, by, reason, at, coalesce(lifted_by, ''), lifted_at FROM %s
ORDER BY id DESC LIMIT $1`, pgx.Identifier{k.table}.Sanitize()), limit)
	if err != nil {
		return nil, fmt.Errorf("fleetpg: kill switch history: %w", err)
	}
	defer rows.Close()
	var out []History
	for rows.Next() {
		var h History
		var id int64
		var scope string
		var lifted *time.Time
		if err := rows.Scan(&id, &scope, &h.Value, &h.By, &h.Reason, &h.At, &h.LiftedBy, &lifted); err != nil {
			return nil, err
		}
		h.ID, h.Scope, h.At = strconv.FormatInt(id, 10), tools.KillScope(scope), h.At.UTC()
		if lifted != nil {
			h.LiftedAt = lifted.UTC()
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

func scanKill(row pgx.Row, kill *tools.Kill) error {
	var id int64
	var scope string
	if err := row.Scan(&id, &scope, &kill.Value, &kill.By, &kill.Reason, &kill.At); err != nil {
		return err
	}
	kill.ID, kill.Scope, kill.At = strconv.FormatInt(id, 10), tools.KillScope(scope), kill.At.UTC()
	return nil
}

// record writes an audit event for an activation or a lift, if a sink is set.
func (k *Kills) record(ctx context.Context, code string, kill tools.Kill, by string) error {
	if k.sink == nil {
		return nil
	}
	ev := audit.Event{ID: "kill-" + kill.ID + "-" + code, Time: k.now().UTC(), Phase: audit.PhaseKill,
		Code: code, Outcome: audit.OutcomeOK,
		Reasons: []string{fmt.Sprintf("%s by %s: %s", kill.String(), by, kill.Reason)}}
	if kill.Scope == tools.KillTool {
		ev.Tool = kill.Value
	}
	if err := k.sink.Record(context.WithoutCancel(ctx), ev); err != nil {
		return fmt.Errorf("fleetpg: %s is stored but its audit event failed: %w", kill.String(), err)
	}
	return nil
}
