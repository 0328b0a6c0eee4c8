package sessionpg

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/modelguard/modelguard/tools"
)

// Options configure a [Store]. The zero value uses the tables
// modelguard_session_heads, _events and _labels, keeps a principal's events
// for 24h, loads at most 1024 events per history and gives each call 2s.
type Options struct {
	// Prefix replaces "modelguard_" in the table names (letters, digits and _).
	Prefix string
	// Retain is how long a principal's events are kept. Its labels, with the
	// time each was last seen, are kept for good.
	Retain time.Duration
	// MaxEvents bounds the events a load reads per history (the newest); a
	// rule asking about older ones fails, and so denies.
	MaxEvents int
	// Timeout bounds each call's work in the database; past it the call is
	// denied (tools.CodeSessionUnavailable).
	Timeout time.Duration
}

// Store is a [tools.SessionStore] in PostgreSQL, shared by every instance
// that uses the same tables. Load is one query (one round trip, one
// snapshot); Append is one batch (one round trip, one transaction) that takes
// the advisory locks of the session and the principal, in a fixed order, so
// that its version check and its writes are atomic across instances: two
// calls in one session on two instances can never both pass on stale state.
// Nothing is evicted: a session's history is complete for as long as the
// tables keep it. It is safe for concurrent use.
type Store struct {
	db        *pgxpool.Pool
	retain    time.Duration
	maxEvents int
	timeout   time.Duration
	lockNS    string

	loadSQL, appendSQL, boundSQL string
}

var _ tools.SessionStore = (*Store)(nil)

var validPrefix = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,40}$`)

// New creates the tables if they do not exist and returns the store.
func New(ctx context.Context, db *pgxpool.Pool, opts Options) (*Store, error) {
	if db == nil {
		return nil, errors.New("sessionpg: nil pool")
	}
	prefix := opts.Prefix
	if prefix == "" {
		prefix = "modelguard_"
	}
	if !validPrefix.MatchString(prefix) {
		return nil, fmt.Errorf("sessionpg: bad table prefix %q", prefix)
	}
	s := &Store{db: db, retain: opts.Retain, maxEvents: opts.MaxEvents, timeout: opts.Timeout, lockNS: prefix}
	if s.retain <= 0 {
		s.retain = 24 * time.Hour
	}
	if s.maxEvents <= 0 {
		s.maxEvents = 1024
	}
	if s.timeout <= 0 {
		s.timeout = 2 * time.Second
	}
	h := pgx.Identifier{prefix + "session_heads"}.Sanitize()
	e := pgx.Identifier{prefix + "session_events"}.Sanitize()
	l := pgx.Identifier{prefix + "session_labels"}.Sanitize()
	s.sql(h, e, l)
	// One simple-protocol query is one implicit transaction: the advisory lock
	// serializes instances creating the tables at once.
	if _, err := db.Exec(ctx, fmt.Sprintf(`SELECT pg_advisory_xact_lock(%d);
CREATE TABLE IF NOT EXISTS %[2]s (
	kind      text NOT NULL,
	key       text NOT NULL,
	ver       bigint NOT NULL,
	first     bigint NOT NULL,
	calls     bigint NOT NULL,
	horizon   bigint NOT NULL DEFAULT 0,
	principal text NOT NULL DEFAULT '',
	PRIMARY KEY (kind, key)
);
CREATE TABLE IF NOT EXISTS %[3]s (
	kind     text NOT NULL,
	key      text NOT NULL,
	ver      bigint NOT NULL,
	at       bigint NOT NULL,
	tool     text NOT NULL,
	labels   text[] NOT NULL,
	approved boolean NOT NULL,
	PRIMARY KEY (kind, key, ver)
);
CREATE INDEX IF NOT EXISTS %[5]s ON %[3]s (kind, key, at);
CREATE TABLE IF NOT EXISTS %[4]s (
	kind  text NOT NULL,
	key   text NOT NULL,
	label text NOT NULL,
	first bigint NOT NULL,
	last  bigint NOT NULL,
	PRIMARY KEY (kind, key, label)
);`, s.lockKey("init", ""), h, e, l, pgx.Identifier{prefix + "session_events_at"}.Sanitize())); err != nil {
		return nil, fmt.Errorf("sessionpg: create tables: %w", err)
	}
	return s, nil
}

func (s *Store) sql(h, e, l string) {
	// $1 session, $2 principal, $3 events per history (+1, to tell a cut).
	s.loadSQL = fmt.Sprintf(`SELECT 0 AS part, kind, ver, first, calls, horizon, '' AS s, 0::bigint AS t, NULL::text[], false
	FROM %[1]s WHERE (kind = 's' AND key = $1) OR (kind = 'p' AND key = $2)
UNION ALL
SELECT 1, kind, 0, first, 0, 0, label, last, NULL, false
	FROM %[3]s WHERE (kind = 's' AND key = $1) OR (kind = 'p' AND key = $2)
UNION ALL
(SELECT 2, kind, ver, at, 0, 0, tool, 0, labels, approved FROM %[2]s WHERE kind = 's' AND key = $1 ORDER BY ver DESC LIMIT $3)
UNION ALL
(SELECT 2, kind, ver, at, 0, 0, tool, 0, labels, approved FROM %[2]s WHERE kind = 'p' AND key = $2 ORDER BY ver DESC LIMIT $3)`, h, e, l)
	s.boundSQL = fmt.Sprintf(`SELECT principal FROM %s WHERE kind = 's' AND key = $1`, h)
	// Under the advisory locks of both keys (taken by the statements before
	// it in the same transaction), so the check reads what no one else can
	// change until commit. $1 session, $2 principal, $3 check, $4/$5 the
	// versions checked (-1: not checked), $6 time, $7 tool, $8 labels, $9
	// approved, $10 the principal's retention cut.
	s.appendSQL = fmt.Sprintf(`WITH ok AS (
	SELECT NOT $3::boolean OR (
		($4::bigint < 0 OR coalesce((SELECT ver FROM %[1]s WHERE kind = 's' AND key = $1), 0) = $4::bigint) AND
		($5::bigint < 0 OR coalesce((SELECT ver FROM %[1]s WHERE kind = 'p' AND key = $2), 0) = $5::bigint)) AS ok
),
prev AS (SELECT coalesce((SELECT principal FROM %[1]s WHERE kind = 's' AND key = $1), '') AS p),
hs AS (
	INSERT INTO %[1]s AS h (kind, key, ver, first, calls, principal)
	SELECT 's', $1, 1, $6::bigint, CASE WHEN $7 = '' THEN 0 ELSE 1 END, $2 FROM ok WHERE ok.ok AND $1 <> ''
	ON CONFLICT (kind, key) DO UPDATE SET ver = h.ver + 1, first = least(h.first, EXCLUDED.first),
		calls = h.calls + EXCLUDED.calls, principal = CASE WHEN h.principal = '' THEN EXCLUDED.principal ELSE h.principal END
	RETURNING ver
),
hp AS (
	INSERT INTO %[1]s AS h (kind, key, ver, first, calls, horizon)
	SELECT 'p', $2, 1, $6::bigint, CASE WHEN $7 = '' THEN 0 ELSE 1 END, 0 FROM ok WHERE ok.ok AND $2 <> ''
	ON CONFLICT (kind, key) DO UPDATE SET ver = h.ver + 1, first = least(h.first, EXCLUDED.first),
		calls = h.calls + EXCLUDED.calls,
		horizon = CASE WHEN EXISTS (SELECT 1 FROM %[2]s WHERE kind = 'p' AND key = $2 AND at < $10::bigint)
			THEN greatest(h.horizon, $10::bigint) ELSE h.horizon END
	RETURNING ver
),
es AS (INSERT INTO %[2]s (kind, key, ver, at, tool, labels, approved)
	SELECT 's', $1, hs.ver, $6::bigint, $7, $8::text[], $9::boolean FROM hs),
ep AS (INSERT INTO %[2]s (kind, key, ver, at, tool, labels, approved)
	SELECT 'p', $2, hp.ver, $6::bigint, $7, $8::text[], $9::boolean FROM hp),
dp AS (DELETE FROM %[2]s WHERE kind = 'p' AND key = $2 AND at < $10::bigint AND EXISTS (SELECT 1 FROM hp)),
ls AS (INSERT INTO %[3]s AS x (kind, key, label, first, last)
	SELECT 's', $1, lab, $6::bigint, $6::bigint FROM hs, unnest($8::text[]) lab
	ON CONFLICT (kind, key, label) DO UPDATE SET last = greatest(x.last, EXCLUDED.last)),
lp AS (INSERT INTO %[3]s AS x (kind, key, label, first, last)
	SELECT 'p', $2, label, min(first), max(last) FROM (
		SELECT lab AS label, $6::bigint AS first, $6::bigint AS last FROM unnest($8::text[]) lab
		UNION ALL -- a session's first principal gets the labels it saw before
		SELECT label, first, last FROM %[3]s, prev WHERE kind = 's' AND key = $1 AND prev.p = '' AND $1 <> '') y, hp
	GROUP BY label
	ON CONFLICT (kind, key, label) DO UPDATE SET first = least(x.first, EXCLUDED.first), last = greatest(x.last, EXCLUDED.last))
SELECT ok FROM ok`, h, e, l)
}

// lockKey is the advisory lock key of a history within these tables.
func (s *Store) lockKey(kind, key string) int64 {
	sum := sha256.Sum256([]byte("modelguard/sessionpg\x00" + s.lockNS + "\x00" + kind + "\x00" + key))
	return int64(binary.BigEndian.Uint64(sum[:8]))
}

func (s *Store) ready() error {
	if s == nil || s.db == nil {
		return errors.New("sessionpg: Store not built by New")
	}
	return nil
}

// Load implements [tools.SessionStore] with one query.
func (s *Store) Load(ctx context.Context, k tools.SessionKey) (tools.SessionSnapshot, error) {
	if err := s.ready(); err != nil {
		return tools.SessionSnapshot{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	rows, err := s.db.Query(ctx, s.loadSQL, k.Session, k.Principal, s.maxEvents+1)
	if err != nil {
		return tools.SessionSnapshot{}, fmt.Errorf("sessionpg: load: %w", err)
	}
	defer rows.Close()
	var snap tools.SessionSnapshot
	var labels [2][]labelRow
	for rows.Next() {
		var part int
		var kind, str string
		var ver, first, calls, horizon, t int64
		var labs []string
		var approved bool
		if err := rows.Scan(&part, &kind, &ver, &first, &calls, &horizon, &str, &t, &labs, &approved); err != nil {
			return tools.SessionSnapshot{}, fmt.Errorf("sessionpg: load: %w", err)
		}
		h, v, i := &snap.Session, &snap.SessionVersion, 0
		if kind == "p" {
			h, v, i = &snap.Principal, &snap.PrincipalVersion, 1
		}
		switch part {
		case 0:
			*v, h.First, h.Calls = uint64(ver), time.Unix(0, first), calls
			if horizon > 0 {
				h.Horizon = time.Unix(0, horizon)
			}
		case 1:
			labels[i] = append(labels[i], labelRow{str, first, t})
		case 2:
			h.Events = append(h.Events, tools.SessionEvent{Time: time.Unix(0, first), Tool: str, Labels: labs, Approved: approved})
		}
	}
	if err := rows.Err(); err != nil {
		return tools.SessionSnapshot{}, fmt.Errorf("sessionpg: load: %w", err)
	}
	for i, h := range []*tools.SessionHistory{&snap.Session, &snap.Principal} {
		s.finish(h, labels[i])
	}
	snap.Session.ID, snap.Principal.ID = k.Session, k.Principal
	return snap, nil
}

type labelRow struct {
	label       string
	first, last int64
}

// finish puts a loaded history in order: events oldest first (cut to
// MaxEvents, the horizon moved past what was cut), labels in first-seen order.
func (s *Store) finish(h *tools.SessionHistory, labels []labelRow) {
	slices.Reverse(h.Events)
	if len(h.Events) > s.maxEvents {
		cut := h.Events[0].Time.Add(time.Nanosecond)
		if cut.After(h.Horizon) {
			h.Horizon = cut
		}
		h.Events = h.Events[1:]
	}
	sort.Slice(labels, func(i, j int) bool {
		if labels[i].first != labels[j].first {
			return labels[i].first < labels[j].first
		}
		return labels[i].label < labels[j].label
	})
	for _, l := range labels {
		h.Labels = append(h.Labels, l.label)
		h.LastSeen = append(h.LastSeen, time.Unix(0, l.last))
	}
}

// Append implements [tools.SessionStore] in one round trip (two when the
// session is labelled without a principal: the principal it is bound to is
// read first, so that its lock is taken too).
func (s *Store) Append(ctx context.Context, k tools.SessionKey, ev tools.SessionEvent, check *tools.SessionSnapshot) error {
	if err := s.ready(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if k.Principal == "" && k.Session != "" {
		if err := s.db.QueryRow(ctx, s.boundSQL, k.Session).Scan(&k.Principal); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("sessionpg: append: %w", err)
		}
	}
	labels := dedupe(ev.Labels)
	sv, pv := int64(-1), int64(-1)
	if check != nil {
		if check.Session.ID != "" {
			sv = int64(check.SessionVersion)
		}
		if check.Principal.ID != "" {
			pv = int64(check.PrincipalVersion)
		}
	}
	locks := []int64{}
	if k.Session != "" {
		locks = append(locks, s.lockKey("s", k.Session))
	}
	if k.Principal != "" {
		locks = append(locks, s.lockKey("p", k.Principal))
	}
	slices.Sort(locks) // one order for everyone: no deadlock
	batch := &pgx.Batch{}
	for _, l := range locks {
		batch.Queue(`SELECT pg_advisory_xact_lock($1)`, l)
	}
	t := ev.Time.UnixNano()
	batch.Queue(s.appendSQL, k.Session, k.Principal, check != nil, sv, pv, t, ev.Tool, labels, ev.Approved,
		ev.Time.Add(-s.retain).UnixNano())
	br := s.db.SendBatch(ctx, batch)
	var err error
	for range locks {
		if _, err = br.Exec(); err != nil {
			break
		}
	}
	ok := false
	if err == nil {
		err = br.QueryRow().Scan(&ok)
	}
	if err = errors.Join(err, br.Close()); err != nil {
		return fmt.Errorf("sessionpg: append: %w", err)
	}
	if !ok {
		return tools.ErrSessionConflict
	}
	return nil
}

func dedupe(labels []string) []string {
	out := make([]string, 0, len(labels))
	for _, l := range labels {
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}
