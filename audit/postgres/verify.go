package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/modelguard/modelguard/audit"
)

// Verify reads the stream back in order and checks it like [audit.Log.Verify]:
// the sequence of records, their syntax, the hashes stored with them, the
// stream's latest checkpoint (its signature too, if opts has keys) and, if
// given, a trusted checkpoint. The first problem is an [*audit.VerifyError]
// naming the bad record.
func (s *Sink) Verify(ctx context.Context, opts audit.VerifyOptions) (*audit.VerifyResult, error) {
	c, err := audit.NewChecker(opts)
	if err != nil {
		return nil, err
	}
	latest, err := s.latest(ctx, s.pool)
	if err != nil {
		return nil, err
	}
	var cp *audit.Checkpoint
	if latest != nil {
		if cp, err = openLatest(latest, opts); err != nil {
			return nil, err
		}
		c.Expect(*cp)
	}
	err = s.scan(ctx, func(seq int64, rec, stored []byte) error {
		hs, err := c.Add(rec, audit.Position{Segment: s.opts.Stream})
		if err != nil || hs == nil {
			return err
		}
		if string(joinHashes(hs)) != string(stored) {
			return &audit.VerifyError{Index: uint64(seq), Seq: uint64(seq), Segment: s.opts.Stream, Err: audit.ErrModified,
				Detail: "the record does not hash to the hashes stored with it"}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	res, err := c.Result()
	if err != nil {
		return nil, err
	}
	res.Latest, res.LatestSigned = cp, cp != nil && opts.Keys != nil
	return res, nil
}

func openLatest(b []byte, opts audit.VerifyOptions) (*audit.Checkpoint, error) {
	var cp audit.Checkpoint
	var err error
	if opts.Keys != nil {
		cp, err = audit.OpenCheckpoint(b, opts.Keys)
	} else {
		cp, err = audit.UnsafeParseSignedCheckpoint(b)
	}
	if err != nil {
		return nil, fmt.Errorf("the stream's latest checkpoint: %w", err)
	}
	return &cp, nil
}

// scan calls fn with every record of the stream in seq order.
func (s *Sink) scan(ctx context.Context, fn func(seq int64, rec, hashes []byte) error) error {
	q := fmt.Sprintf(`SELECT seq, record, hashes FROM %s WHERE stream = $1 ORDER BY seq`, s.t.records)
	rows, err := s.pool.Query(ctx, q, s.opts.Stream)
	if err != nil {
		return err
	}
	defer rows.Close()
	var seq int64
	var rec, hashes []byte
	_, err = pgx.ForEachRow(rows, []any{&seq, &rec, &hashes}, func() error { return fn(seq, rec, hashes) })
	return err
}

// Events calls fn with every event of the stream in order.
func (s *Sink) Events(ctx context.Context, fn func(audit.Event) error) error {
	return s.scan(ctx, func(seq int64, rec, _ []byte) error {
		var e audit.Event
		if err := json.Unmarshal(rec, &e); err != nil {
			return fmt.Errorf("%w: record %d: %v", audit.ErrCorrupt, seq, err)
		}
		return fn(e)
	})
}

// Query calls fn, in order, with every event of the stream that f matches.
func (s *Sink) Query(ctx context.Context, f audit.Filter, fn func(audit.Event) error) error {
	return s.Events(ctx, func(e audit.Event) error {
		if !f.Match(&e) {
			return nil
		}
		return fn(e)
	})
}

// LatestCheckpoint returns the stream's latest stored checkpoint, or nil if it
// has none yet.
func (s *Sink) LatestCheckpoint(ctx context.Context) ([]byte, error) {
	return s.latest(ctx, s.pool)
}

// Prove returns the proof that record seq is in the tree of the stream's
// latest checkpoint.
func (s *Sink) Prove(ctx context.Context, seq uint64) (*audit.InclusionProof, error) {
	cp, err := s.latest(ctx, s.pool)
	if err != nil {
		return nil, err
	}
	if cp == nil {
		return nil, fmt.Errorf("%w: the stream has no checkpoint yet", audit.ErrNotCovered)
	}
	var rec []byte
	q := fmt.Sprintf(`SELECT record FROM %s WHERE stream = $1 AND seq = $2`, s.t.records)
	if err := s.pool.QueryRow(ctx, q, s.opts.Stream, int64(seq)).Scan(&rec); err != nil {
		return nil, fmt.Errorf("postgres: record %d: %w", seq, err)
	}
	return audit.ProveInclusion(s.hashReader(ctx), cp, seq, rec)
}

// ProveConsistency returns the proof that the stream at the newer checkpoint
// extends the stream at the older one.
func (s *Sink) ProveConsistency(ctx context.Context, older, newer []byte) (*audit.ConsistencyProof, error) {
	return audit.ProveConsistency(s.hashReader(ctx), older, newer)
}

// hashReader reads stored hashes from the records that keep them: the hash of
// node n at level L is kept by record ((n+1)<<L)-1, at position L.
func (s *Sink) hashReader(ctx context.Context) tlog.HashReader {
	return tlog.HashReaderFunc(func(indexes []int64) ([]tlog.Hash, error) {
		seqs := make([]int64, len(indexes))
		levels := make([]int, len(indexes))
		for i, x := range indexes {
			level, n := tlog.SplitStoredHashIndex(x)
			seqs[i], levels[i] = (n+1)<<level, level
		}
		q := fmt.Sprintf(`SELECT seq, hashes FROM %s WHERE stream = $1 AND seq = ANY($2)`, s.t.records)
		rows, err := s.pool.Query(ctx, q, s.opts.Stream, seqs)
		if err != nil {
			return nil, err
		}
		found := map[int64][]byte{}
		var seq int64
		var hs []byte
		if _, err := pgx.ForEachRow(rows, []any{&seq, &hs}, func() error { found[seq] = hs; return nil }); err != nil {
			return nil, err
		}
		out := make([]tlog.Hash, len(indexes))
		for i := range indexes {
			b, off := found[seqs[i]], levels[i]*tlog.HashSize
			if len(b) < off+tlog.HashSize {
				return nil, fmt.Errorf("%w: no stored hash %d", audit.ErrCorrupt, indexes[i])
			}
			copy(out[i][:], b[off:])
		}
		return out, nil
	})
}
