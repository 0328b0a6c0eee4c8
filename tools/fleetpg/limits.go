package fleetpg

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
)

// LimitOptions configure [Limits]. The zero value uses the tables
// modelguard_buckets and modelguard_charges, gives each call 2 seconds and
// sweeps expired rows every minute.
type LimitOptions struct {
	// Prefix replaces "modelguard_" in the table names (letters, digits and _).
	Prefix string
	// Timeout bounds each call's work in the database; past it the call is
	// denied (tools.CodeLimitsUnavailable). Default 2s.
	Timeout time.Duration
	// Sweep is how often [Limits.Run] deletes expired rows. Default 1m.
	Sweep time.Duration
	// Now is the clock of Run's sweeps; default time.Now. Take and Charge use
	// the guard's clock, which they are given.
	Now func() time.Time
}

// Limits is a [tools.LimitStore] shared through PostgreSQL: every instance of
// a fleet that uses the same tables enforces what one instance would.
//
// A rate limit is a GCRA bucket (the token bucket of the in-memory limiter,
// stored as its theoretical arrival time), taken in one upsert per call, so
// that two instances can never both take the last token. A budget account is
// its charges within the window and their running total; a charge locks the
// account (an advisory transaction lock on its key), drops what left the
// window, checks the total and inserts the charge, in one round trip and one
// transaction whose cost does not grow with the charges in the window (a
// denial's retry time reads them). Rows are keyed by rule, tool and principal
// ([tools.LimitKey]), never by settings: a reload reshapes a bucket and
// re-windows an account as the in-memory store does, and a restart finds them
// as they were. Times are the guard's clock in nanoseconds: keep the fleet's
// clocks in sync (a clock d ahead sees its buckets d fuller).
//
// It is safe for concurrent use.
type Limits struct {
	db      *pgxpool.Pool
	timeout time.Duration
	sweep   time.Duration
	now     func() time.Time
	lockNS  string // makes advisory lock keys unique to these tables

	takeSQL, untakeSQL, chargeSQL, refundSQL   string
	sweepBucketsSQL, sweepKeysSQL, sweepKeySQL string
	dropAccountSQL                             string
}

var _ tools.LimitStore = (*Limits)(nil)

// NewLimits creates the tables if they do not exist and returns the store.
func NewLimits(ctx context.Context, db *pgxpool.Pool, opts LimitOptions) (*Limits, error) {
	if db == nil {
		return nil, errors.New("fleetpg: nil pool")
	}
	prefix, err := prefixOf(opts.Prefix)
	if err != nil {
		return nil, err
	}
	l := &Limits{db: db, timeout: opts.Timeout, sweep: opts.Sweep, now: opts.Now, lockNS: prefix + "charges"}
	if l.timeout <= 0 {
		l.timeout = 2 * time.Second
	}
	if l.sweep <= 0 {
		l.sweep = time.Minute
	}
	if l.now == nil {
		l.now = time.Now
	}
	b, c := pgx.Identifier{prefix + "buckets"}.Sanitize(), pgx.Identifier{prefix + "charges"}.Sanitize()
	a := pgx.Identifier{prefix + "accounts"}.Sanitize()
	l.sql(b, c, a)
	// One simple-protocol query is one implicit transaction: the advisory lock
	// serializes instances creating the tables at once (concurrent CREATE … IF
	// NOT EXISTS races).
	if _, err := db.Exec(ctx, fmt.Sprintf(`SELECT pg_advisory_xact_lock(%d);
CREATE TABLE IF NOT EXISTS %[2]s (
	rule      bytea NOT NULL,
	tool      bytea NOT NULL,
	principal bytea NOT NULL,
	tat       bigint NOT NULL,
	iv        bigint NOT NULL,
	burst     integer NOT NULL,
	ok        boolean NOT NULL DEFAULT true,
	PRIMARY KEY (rule, tool, principal)
);
CREATE INDEX IF NOT EXISTS %[4]s ON %[2]s (tat);
CREATE TABLE IF NOT EXISTS %[3]s (
	id        bigserial PRIMARY KEY,
	rule      bytea NOT NULL,
	tool      bytea NOT NULL,
	principal bytea NOT NULL,
	at        bigint NOT NULL,
	amount    double precision NOT NULL,
	expires   bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS %[5]s ON %[3]s (rule, tool, principal, at);
CREATE INDEX IF NOT EXISTS %[6]s ON %[3]s (expires);
CREATE TABLE IF NOT EXISTS %[7]s (
	rule      bytea NOT NULL,
	tool      bytea NOT NULL,
	principal bytea NOT NULL,
	total     double precision NOT NULL,
	win       bigint NOT NULL,
	PRIMARY KEY (rule, tool, principal)
);`,
		l.lockKey("init"), b, c, pgx.Identifier{prefix + "buckets_tat"}.Sanitize(),
		pgx.Identifier{prefix + "charges_key"}.Sanitize(), pgx.Identifier{prefix + "charges_expires"}.Sanitize(), a)); err != nil {
		return nil, fmt.Errorf("fleetpg: create limit tables: %w", err)
	}
	return l, nil
}

func (l *Limits) sql(b, c, a string) {
	// GCRA (ITU-T I.371 §4.4.2, the virtual scheduling algorithm): with
	// emission interval T = 1/rate and capacity tau = burst·T, a call at now is
	// allowed iff max(tat, now) + T − now ≤ tau, and then tat = max(tat, now) + T.
	// A bucket whose settings changed is first reshaped: it keeps the tokens it
	// holds, capped at the new burst ($4 now, $5 T, $6 burst).
	l.takeSQL = fmt.Sprintf(`INSERT INTO %[1]s AS b (rule, tool, principal, tat, iv, burst)
VALUES ($1, $2, $3, $4::bigint + $5::bigint, $5::bigint, $6::integer)
ON CONFLICT (rule, tool, principal) DO UPDATE SET (tat, iv, burst, ok) = (
	SELECT CASE WHEN x.base + $5::bigint - $4::bigint <= $6::integer * $5::bigint THEN x.base + $5::bigint ELSE x.base END,
		$5::bigint, $6::integer, x.base + $5::bigint - $4::bigint <= $6::integer * $5::bigint
	FROM (SELECT CASE WHEN b.iv = $5::bigint AND b.burst = $6::integer THEN greatest(b.tat, $4::bigint)
		ELSE $4::bigint + ceil(greatest($6::integer - least($6::integer::numeric,
			b.burst - greatest(b.tat - $4::bigint, 0)::numeric / b.iv), 0) * $5::bigint)::bigint END AS base) x)
RETURNING ok, tat`, b)
	l.untakeSQL = fmt.Sprintf(`UPDATE %s SET tat = tat - iv WHERE rule = $1 AND tool = $2 AND principal = $3`, b)
	// A budget account is its charges and their running total, which only
	// ever change under the account's advisory lock: the statement before each
	// of these takes it in the same implicit transaction, so their snapshot
	// holds everything committed before. A charge deletes the charges that left
	// the window (subtracting them), inserts itself if the total stays within
	// max, and writes the total back: O(charges expired), not O(window). The
	// window is the one in force now: a reload re-windows the charges already
	// made, and their expiry for the sweep ($4 now, $5 window, $6 amount, $7 max).
	key := `rule = $1 AND tool = $2 AND principal = $3`
	l.chargeSQL = fmt.Sprintf(`WITH a AS (SELECT coalesce((SELECT total FROM %[2]s WHERE %[3]s), 0) AS total,
		coalesce((SELECT win FROM %[2]s WHERE %[3]s), $5::bigint) AS win),
upd AS (UPDATE %[1]s SET expires = at + $5::bigint
	WHERE %[3]s AND at > $4::bigint - $5::bigint AND (SELECT win FROM a) <> $5::bigint),
gone AS (DELETE FROM %[1]s WHERE %[3]s AND at <= $4::bigint - $5::bigint RETURNING amount),
t AS (SELECT a.total - coalesce((SELECT sum(amount) FROM gone), 0) AS total FROM a),
ins AS (INSERT INTO %[1]s (rule, tool, principal, at, amount, expires)
	SELECT $1, $2, $3, $4::bigint, $6::float8, $4::bigint + $5::bigint FROM t WHERE t.total + $6::float8 <= $7::float8
	RETURNING id, amount),
acc AS (INSERT INTO %[2]s (rule, tool, principal, total, win)
	SELECT $1, $2, $3, t.total + coalesce((SELECT amount FROM ins), 0), $5::bigint FROM t
	ON CONFLICT (rule, tool, principal) DO UPDATE SET total = EXCLUDED.total, win = EXCLUDED.win),
r AS (SELECT c.at FROM (SELECT at, id, sum(amount) OVER (ORDER BY at, id) AS cum FROM %[1]s
		WHERE %[3]s AND at > $4::bigint - $5::bigint) c, t
	WHERE NOT EXISTS (SELECT 1 FROM ins) AND t.total - c.cum + $6::float8 <= $7::float8
	ORDER BY c.at, c.id LIMIT 1)
SELECT (SELECT id FROM ins), (SELECT at FROM r)`, c, a, key)
	l.refundSQL = fmt.Sprintf(`WITH d AS (DELETE FROM %[1]s WHERE id = $4 AND %[3]s RETURNING amount)
UPDATE %[2]s SET total = total - coalesce((SELECT sum(amount) FROM d), 0) WHERE %[3]s`, c, a, key)
	// A bucket whose tat has passed is full: a new row would start the same.
	// A charge past its expiry has left the window it was made in; an account
	// without charges is as a new one.
	l.sweepBucketsSQL = `DELETE FROM ` + b + ` WHERE tat <= $1`
	l.sweepKeysSQL = fmt.Sprintf(`(SELECT DISTINCT rule, tool, principal FROM %[1]s WHERE expires <= $1 LIMIT $2)
UNION (SELECT rule, tool, principal FROM %[2]s x WHERE NOT EXISTS
	(SELECT 1 FROM %[1]s c WHERE c.rule = x.rule AND c.tool = x.tool AND c.principal = x.principal) LIMIT $2)`, c, a)
	l.sweepKeySQL = fmt.Sprintf(`WITH d AS (DELETE FROM %[1]s WHERE %[3]s AND expires <= $4 RETURNING amount)
UPDATE %[2]s SET total = total - coalesce((SELECT sum(amount) FROM d), 0) WHERE %[3]s`, c, a, key)
	l.dropAccountSQL = fmt.Sprintf(`DELETE FROM %[2]s x WHERE %[3]s AND $4::bigint > 0
	AND NOT EXISTS (SELECT 1 FROM %[1]s c WHERE c.rule = $1 AND c.tool = $2 AND c.principal = $3)`, c, a, key)
}

// lockKey is the advisory lock key of name within these tables: a collision
// with another key only serializes the two, it never merges accounts.
func (l *Limits) lockKey(name string) int64 {
	h := sha256.Sum256([]byte("modelguard/fleetpg\x00" + l.lockNS + "\x00" + name))
	return int64(binary.BigEndian.Uint64(h[:8]))
}

func accountLock(k tools.LimitKey) string {
	return fmt.Sprintf("%d:%s%d:%s%s", len(k.Rule), k.Rule, len(k.Tool), k.Tool, k.Principal)
}

// Take implements [tools.LimitStore] with one statement.
func (l *Limits) Take(ctx context.Context, k tools.LimitKey, lim policy.Limit, now time.Time) (func(), time.Duration, error) {
	if l == nil || l.db == nil {
		return nil, 0, errors.New("fleetpg: Limits not built by NewLimits")
	}
	f := math.Round(float64(time.Second) / lim.Rate) // the emission interval in ns
	if !(lim.Rate > 0) || math.IsInf(lim.Rate, 0) || !(f < math.MaxInt64/2) {
		return nil, 0, fmt.Errorf("fleetpg: bad rate %v", lim.Rate) // denies: an interval past int64 must not wrap to a fast rate
	}
	iv := max(int64(f), 1)
	burst := int64(lim.EffectiveBurst())
	if burst > math.MaxInt32 || iv > math.MaxInt64/(burst+1) {
		return nil, 0, fmt.Errorf("fleetpg: limit out of range (rate %v, burst %d)", lim.Rate, burst)
	}
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	t := now.UnixNano()
	var ok bool
	var tat int64
	if err := l.db.QueryRow(ctx, l.takeSQL, []byte(k.Rule), []byte(k.Tool), []byte(k.Principal), t, iv, burst).Scan(&ok, &tat); err != nil {
		return nil, 0, fmt.Errorf("fleetpg: rate limit: %w", err)
	}
	if !ok {
		return nil, time.Duration(tat + iv - t - burst*iv), nil
	}
	return func() { l.untake(k) }, 0, nil
}

// untake gives a token back; a failure leaves it taken (the safe side).
func (l *Limits) untake(k tools.LimitKey) {
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	defer cancel()
	_, _ = l.db.Exec(ctx, l.untakeSQL, []byte(k.Rule), []byte(k.Tool), []byte(k.Principal))
}

// Charge implements [tools.LimitStore] in one round trip and one transaction.
func (l *Limits) Charge(ctx context.Context, k tools.LimitKey, b policy.Budget, amount float64, now time.Time) (func(), time.Duration, error) {
	if l == nil || l.db == nil {
		return nil, 0, errors.New("fleetpg: Limits not built by NewLimits")
	}
	if b.Window <= 0 || !(b.Max > 0) || math.IsInf(b.Max, 0) {
		return nil, 0, fmt.Errorf("fleetpg: bad budget (max %v, window %v)", b.Max, b.Window)
	}
	if math.IsNaN(amount) || amount < 0 || amount > b.Max {
		return nil, 0, nil // never fits (as in memory)
	}
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	t := now.UnixNano()
	batch := &pgx.Batch{}
	batch.Queue(`SELECT pg_advisory_xact_lock($1)`, l.lockKey(accountLock(k)))
	batch.Queue(l.chargeSQL, []byte(k.Rule), []byte(k.Tool), []byte(k.Principal), t, int64(b.Window), amount, b.Max)
	br := l.db.SendBatch(ctx, batch)
	var id, at *int64
	_, err := br.Exec()
	if err == nil {
		err = br.QueryRow().Scan(&id, &at)
	}
	if err = errors.Join(err, br.Close()); err != nil {
		return nil, 0, fmt.Errorf("fleetpg: budget: %w", err)
	}
	switch {
	case id != nil:
		return func() { l.refund(k, *id) }, 0, nil
	case at != nil:
		return nil, time.Duration(*at + int64(b.Window) - t), nil
	}
	return nil, 0, nil
}

// locked runs the statements qs, each with k's columns as $1–$3 and arg (if
// not nil) as $4, under the advisory lock of k's account, in one round trip
// and one transaction.
func (l *Limits) locked(ctx context.Context, k tools.LimitKey, arg any, qs ...string) error {
	batch := &pgx.Batch{}
	batch.Queue(`SELECT pg_advisory_xact_lock($1)`, l.lockKey(accountLock(k)))
	args := []any{[]byte(k.Rule), []byte(k.Tool), []byte(k.Principal)}
	if arg != nil {
		args = append(args, arg)
	}
	for _, q := range qs {
		batch.Queue(q, args...)
	}
	return l.db.SendBatch(ctx, batch).Close()
}

// refund deletes a charge and takes it off its account's total; a failure
// leaves it charged (the safe side).
func (l *Limits) refund(k tools.LimitKey, id int64) {
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	defer cancel()
	_ = l.locked(ctx, k, id, l.refundSQL)
}

// Sweep deletes the rows that no longer limit anyone: buckets that have
// refilled, charges that have left their window, and accounts without
// charges. It keeps the tables' size bounded by the calls of one window,
// however many principals call. Each account is swept under its lock, in
// batches of 1000 accounts.
func (l *Limits) Sweep(ctx context.Context) error {
	if l == nil || l.db == nil {
		return errors.New("fleetpg: Limits not built by NewLimits")
	}
	now := l.now().UnixNano()
	if _, err := l.db.Exec(ctx, l.sweepBucketsSQL, now); err != nil {
		return fmt.Errorf("fleetpg: sweep: %w", err)
	}
	for {
		rows, err := l.db.Query(ctx, l.sweepKeysSQL, now, sweepBatch)
		if err != nil {
			return fmt.Errorf("fleetpg: sweep: %w", err)
		}
		keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tools.LimitKey, error) {
			var rule, tool, principal []byte
			err := r.Scan(&rule, &tool, &principal)
			return tools.LimitKey{Rule: string(rule), Tool: string(tool), Principal: string(principal)}, err
		})
		if err != nil {
			return fmt.Errorf("fleetpg: sweep: %w", err)
		}
		for _, k := range keys {
			if err := l.locked(ctx, k, now, l.sweepKeySQL, l.dropAccountSQL); err != nil {
				return fmt.Errorf("fleetpg: sweep: %w", err)
			}
		}
		if len(keys) < sweepBatch {
			return nil
		}
	}
}

const sweepBatch = 1000

// Run sweeps every LimitOptions.Sweep until ctx is done; run it in its own
// goroutine (one per instance is fine: sweeps are idempotent).
func (l *Limits) Run(ctx context.Context) {
	if l == nil || l.db == nil {
		return
	}
	t := time.NewTicker(l.sweep)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = l.Sweep(ctx)
		}
	}
}
