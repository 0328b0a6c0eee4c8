package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/modelguard/modelguard/audit"
)

// Options configure a [Sink]. The zero value is valid: schema "public", stream
// "default", unsigned checkpoints every 10,000 records, 5s per transaction.
type Options struct {
	// Schema holds the tables; it is created if missing.
	Schema string
	// Stream names the log within the tables; each stream has its own
	// sequence and tree.
	Stream string
	// Signer signs checkpoints; its name is the log's origin. Without one,
	// checkpoints are stored unsigned under the origin "local".
	Signer note.Signer
	// CheckpointEvery is how many records a checkpoint follows; 0 means
	// 10,000. OnCheckpoint, if set, gets each after its transaction commits.
	CheckpointEvery int64
	OnCheckpoint    func(signed []byte) error
	// Timeout bounds each transaction, so that a hung database denies calls
	// rather than holding them; 0 means 5s.
	Timeout time.Duration
}

// Sink is an [audit.Sink] that appends events to a stream of a PostgreSQL
// tamper-evident log. It is safe for concurrent use, and any number of Sinks,
// in any number of processes, may write the same stream.
type Sink struct {
	pool   *pgxpool.Pool
	opts   Options
	t      tables
	origin string

	mu      sync.Mutex // guards pending
	pending []*item
	wmu     sync.Mutex // held by the caller writing a batch
}

type item struct {
	e    audit.Event
	done chan error
}

// New returns a sink writing to pool, creating its schema, tables and stream
// if missing.
func New(ctx context.Context, pool *pgxpool.Pool, opts Options) (*Sink, error) {
	if opts.Schema == "" {
		opts.Schema = "public"
	}
	if opts.Stream == "" {
		opts.Stream = "default"
	}
	if opts.CheckpointEvery <= 0 {
		opts.CheckpointEvery = 10_000
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	s := &Sink{pool: pool, opts: opts, t: newTables(opts.Schema), origin: "local"}
	if opts.Signer != nil {
		s.origin = opts.Signer.Name()
	}
	if err := s.t.migrate(ctx, pool, opts.Stream); err != nil {
		return nil, fmt.Errorf("postgres: create tables: %w", err)
	}
	return s, nil
}

// Record numbers e, adds it to the stream's tree and commits it. It returns
// once the transaction that holds e committed; concurrent callers share
// transactions. ctx's cancellation is ignored, as for every sink; each
// transaction is bounded by [Options].Timeout instead.
func (s *Sink) Record(ctx context.Context, e audit.Event) error {
	it := &item{e: e, done: make(chan error, 1)}
	s.mu.Lock()
	s.pending = append(s.pending, it)
	s.mu.Unlock()

	s.wmu.Lock()
	defer s.wmu.Unlock()
	select {
	case err := <-it.done: // an earlier writer's batch took it
		return err
	default:
	}
	s.mu.Lock()
	batch := s.pending
	s.pending = nil
	s.mu.Unlock()
	_, err := s.write(context.WithoutCancel(ctx), batch, false)
	if err != nil {
		err = fmt.Errorf("%w: %w", audit.ErrUnavailable, err)
	}
	for _, b := range batch {
		b.done <- err
	}
	return <-it.done
}

// Checkpoint signs and stores a checkpoint of the stream as it is now, unless
// the latest already covers it, and returns it.
func (s *Sink) Checkpoint(ctx context.Context) ([]byte, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.write(ctx, nil, true)
}

// write commits batch in one transaction under the stream's head lock, signing
// a checkpoint if one falls due (or if force). It returns the checkpoint.
func (s *Sink) write(ctx context.Context, batch []*item, force bool) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	var signed []byte
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tree, err := s.lockHead(ctx, tx)
		if err != nil {
			return err
		}
		before := tree.Size()
		if err := s.insert(ctx, tx, tree, batch); err != nil {
			return err
		}
		if force || tree.Size()/s.opts.CheckpointEvery > before/s.opts.CheckpointEvery {
			if signed, err = s.checkpoint(ctx, tx, tree); err != nil {
				return err
			}
		}
		return s.updateHead(ctx, tx, tree)
	})
	if err != nil {
		return nil, err
	}
	if signed != nil && s.opts.OnCheckpoint != nil {
		// The checkpoint is stored; shipping it elsewhere is best effort.
		_ = s.opts.OnCheckpoint(signed)
	}
	return signed, nil
}

func (s *Sink) lockHead(ctx context.Context, tx pgx.Tx) (*audit.Tree, error) {
	var size int64
	var edge []byte
	q := fmt.Sprintf(`SELECT size, edge FROM %s WHERE stream = $1 FOR UPDATE`, s.t.head)
	if err := tx.QueryRow(ctx, q, s.opts.Stream).Scan(&size, &edge); err != nil {
		return nil, fmt.Errorf("lock stream head: %w", err)
	}
	return audit.NewTree(size, splitHashes(edge))
}

func (s *Sink) insert(ctx context.Context, tx pgx.Tx, tree *audit.Tree, batch []*item) error {
	if len(batch) == 0 {
		return nil
	}
	seqs := make([]int64, len(batch))
	recs := make([][]byte, len(batch))
	hashes := make([][]byte, len(batch))
	var stored []tlog.Hash
	for i, it := range batch {
		seqs[i] = tree.Size() + 1
		rec, err := audit.MarshalRecord(it.e, uint64(seqs[i]))
		if err != nil {
			return err
		}
		recs[i] = rec
		stored = tree.Append(rec, stored[:0])
		hashes[i] = joinHashes(stored)
	}
	q := fmt.Sprintf(`INSERT INTO %s (stream, seq, record, hashes)
		SELECT $1, * FROM unnest($2::bigint[], $3::bytea[], $4::bytea[])`, s.t.records)
	_, err := tx.Exec(ctx, q, s.opts.Stream, seqs, recs, hashes)
	return err
}

func (s *Sink) updateHead(ctx context.Context, tx pgx.Tx, tree *audit.Tree) error {
	q := fmt.Sprintf(`UPDATE %s SET size = $2, edge = $3 WHERE stream = $1`, s.t.head)
	_, err := tx.Exec(ctx, q, s.opts.Stream, tree.Size(), joinHashes(tree.Edge()))
	return err
}

// checkpoint signs and stores a checkpoint of tree, unless one of its size
// exists.
func (s *Sink) checkpoint(ctx context.Context, tx pgx.Tx, tree *audit.Tree) ([]byte, error) {
	cp := audit.Checkpoint{Origin: s.origin, Size: tree.Size(), Hash: tree.Root()}
	signed := cp.Text()
	if s.opts.Signer != nil {
		var err error
		if signed, err = audit.SignCheckpoint(cp, s.opts.Signer); err != nil {
			return nil, err
		}
	}
	q := fmt.Sprintf(`INSERT INTO %s (stream, size, note) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, s.t.checkpoints)
	tag, err := tx.Exec(ctx, q, s.opts.Stream, cp.Size, signed)
	if err != nil {
		return nil, err
	}
	if tag.RowsAffected() == 0 {
		return s.latest(ctx, tx)
	}
	return signed, nil
}

// latest returns the stream's latest checkpoint, or nil.
func (s *Sink) latest(ctx context.Context, q querier) ([]byte, error) {
	var b []byte
	sql := fmt.Sprintf(`SELECT note FROM %s WHERE stream = $1 ORDER BY size DESC LIMIT 1`, s.t.checkpoints)
	err := q.QueryRow(ctx, sql, s.opts.Stream).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return b, err
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func joinHashes(hs []tlog.Hash) []byte {
	b := make([]byte, 0, len(hs)*tlog.HashSize)
	for _, h := range hs {
		b = append(b, h[:]...)
	}
	return b
}

func splitHashes(b []byte) []tlog.Hash {
	hs := make([]tlog.Hash, len(b)/tlog.HashSize)
	for i := range hs {
		copy(hs[i][:], b[i*tlog.HashSize:])
	}
	return hs
}

// tables holds the quoted names of a sink's tables.
type tables struct {
	schema, head, records, checkpoints string
}

func newTables(schema string) tables {
	s := pgx.Identifier{schema}.Sanitize()
	name := func(t string) string { return pgx.Identifier{schema, t}.Sanitize() }
	return tables{schema: s, head: name("modelguard_audit_head"), records: name("modelguard_audit_records"),
		checkpoints: name("modelguard_audit_checkpoints")}
}

// migrate creates the schema and tables if missing, and the stream's head.
func (t tables) migrate(ctx context.Context, pool *pgxpool.Pool, stream string) error {
	ddl := fmt.Sprintf(`
CREATE SCHEMA IF NOT EXISTS %[1]s;
CREATE TABLE IF NOT EXISTS %[2]s (
	stream text PRIMARY KEY,
	size   bigint NOT NULL DEFAULT 0,
	edge   bytea  NOT NULL DEFAULT ''::bytea
);
CREATE TABLE IF NOT EXISTS %[3]s (
	stream text   NOT NULL,
	seq    bigint NOT NULL,
	record bytea  NOT NULL,
	hashes bytea  NOT NULL,
	PRIMARY KEY (stream, seq)
);
CREATE TABLE IF NOT EXISTS %[4]s (
	stream text   NOT NULL,
	size   bigint NOT NULL,
	note   bytea  NOT NULL,
	PRIMARY KEY (stream, size)
);`, t.schema, t.head, t.records, t.checkpoints)
	// Concurrent first starts may race to create the same objects: a lock
	// keyed on the schema name serializes them.
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "modelguard_audit:"+t.schema); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, ddl); err != nil {
		return err
	}
	q := fmt.Sprintf(`INSERT INTO %s (stream) VALUES ($1) ON CONFLICT DO NOTHING`, t.head)
	if _, err := tx.Exec(ctx, q, stream); err != nil {
		return err
	}
	return tx.Commit(ctx)
}
