package postgres_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/sumdb/note"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/audit/audittest"
	"github.com/modelguard/modelguard/audit/postgres"
)

var schemas atomic.Int64

// pool connects to the test database, or skips.
func pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	dsn := os.Getenv("MODELGUARD_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("set MODELGUARD_TEST_POSTGRES (see .ci/postgres) to run PostgreSQL tests")
	}
	p, err := pgxpool.New(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// schema returns a schema name unique to this test run and test.
func schema(t testing.TB) string {
	name := strings.ToLower(strings.NewReplacer("/", "_", " ", "_", "-", "_", "#", "_").Replace(t.Name()))
	return fmt.Sprintf("mg_%d_%d_%s", os.Getpid(), schemas.Add(1), name[:min(len(name), 30)])
}

func keys(t testing.TB) (note.Signer, note.Verifiers) {
	skey, vkey, _ := note.GenerateKey(rand.Reader, "example.com/pg")
	s, _ := note.NewSigner(skey)
	v, _ := note.NewVerifier(vkey)
	return s, note.VerifierList(v)
}

func newSink(t testing.TB, p *pgxpool.Pool, opts postgres.Options) *postgres.Sink {
	t.Helper()
	s, err := postgres.New(context.Background(), p, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	p := pool(t)
	audittest.Run(t, audittest.Config{
		New: func(t *testing.T) (audit.Sink, func() []audit.Event) {
			s := newSink(t, p, postgres.Options{Schema: schema(t)})
			return s, func() []audit.Event {
				var evs []audit.Event
				if err := s.Events(context.Background(), func(e audit.Event) error { evs = append(evs, e); return nil }); err != nil {
					t.Fatal(err)
				}
				return evs
			}
		},
		Failing: func(t *testing.T) audit.Sink { return unreachable(t) },
	})
}

// unreachable is a sink whose database went away after it was set up.
func unreachable(t *testing.T) *postgres.Sink {
	p := pool(t)
	name := schema(t)
	s := newSink(t, p, postgres.Options{Schema: name, Timeout: 2 * time.Second})
	if _, err := p.Exec(context.Background(), "DROP SCHEMA "+name+" CASCADE"); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDatabaseUnavailableDenies(t *testing.T) {
	t.Parallel()
	p, err := pgxpool.New(context.Background(), "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, err := postgres.New(context.Background(), p, postgres.Options{}); err == nil {
		t.Fatal("New with no database: no error")
	}
	s := unreachable(t)
	if err := s.Record(context.Background(), audittest.Event("x")); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("Record with the tables gone: %v", err)
	}
}

// TestInstancesShareOneSequence: several sinks (as in several processes, each
// with its own pool) write one stream at once; seq has no gap or duplicate
// and the stream verifies against its signed checkpoints.
func TestInstancesShareOneSequence(t *testing.T) {
	t.Parallel()
	name := schema(t)
	signer, vs := keys(t)
	var shipped atomic.Int32
	const instances, callers, per = 4, 8, 25
	var wg sync.WaitGroup
	var sinks []*postgres.Sink
	for range instances {
		s := newSink(t, pool(t), postgres.Options{Schema: name, Signer: signer, CheckpointEvery: 100,
			OnCheckpoint: func([]byte) error { shipped.Add(1); return nil }})
		sinks = append(sinks, s)
		for g := range callers {
			wg.Go(func() {
				for i := range per {
					if err := s.Record(context.Background(), audittest.Event(fmt.Sprintf("%p-%d-%d", s, g, i))); err != nil {
						t.Error(err)
					}
				}
			})
		}
	}
	wg.Wait()
	cp, err := sinks[0].Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	res, err := sinks[1].Verify(context.Background(), audit.VerifyOptions{Keys: vs, Checkpoint: cp})
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != instances*callers*per || !res.LatestSigned || shipped.Load() < 8 {
		t.Fatalf("result %+v, %d checkpoints shipped", res, shipped.Load())
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	t.Parallel()
	signer, vs := keys(t)
	tests := []struct {
		name   string
		damage string // SQL run against the records table, %s its name
		want   error
		index  uint64
	}{
		{"modified", `UPDATE %s SET record = convert_to(replace(convert_from(record, 'UTF8'), 'allow', 'deny'), 'UTF8') WHERE seq = 4`, audit.ErrModified, 4},
		{"deleted", `DELETE FROM %s WHERE seq = 3`, audit.ErrMissing, 3},
		{"reordered", `UPDATE %[1]s SET seq = -5 WHERE seq = 5; UPDATE %[1]s SET seq = 5 WHERE seq = 6; UPDATE %[1]s SET seq = 6 WHERE seq = -5`, audit.ErrReordered, 5},
		{"truncated", `DELETE FROM %s WHERE seq > 7`, audit.ErrTruncated, 8},
		{"duplicated", `INSERT INTO %[1]s SELECT stream, 11, record, hashes FROM %[1]s WHERE seq = 10`, audit.ErrDuplicate, 11},
	}
	p := pool(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			name := schema(t)
			s := newSink(t, p, postgres.Options{Schema: name, Signer: signer})
			for i := range 10 {
				if err := s.Record(context.Background(), audittest.Event(fmt.Sprint(i))); err != nil {
					t.Fatal(err)
				}
			}
			trusted, _ := s.Checkpoint(context.Background())
			if _, err := s.Verify(context.Background(), audit.VerifyOptions{Keys: vs, Checkpoint: trusted}); err != nil {
				t.Fatal(err)
			}
			if _, err := p.Exec(context.Background(), fmt.Sprintf(tt.damage, name+".modelguard_audit_records")); err != nil {
				t.Fatal(err)
			}
			_, err := s.Verify(context.Background(), audit.VerifyOptions{Keys: vs, Checkpoint: trusted})
			var ve *audit.VerifyError
			if !errors.As(err, &ve) || !errors.Is(err, tt.want) || ve.Index != tt.index {
				t.Fatalf("Verify = %v, want %v at record %d", err, tt.want, tt.index)
			}
		})
	}
}

func TestProofs(t *testing.T) {
	t.Parallel()
	signer, vs := keys(t)
	s := newSink(t, pool(t), postgres.Options{Schema: schema(t), Signer: signer, CheckpointEvery: 5})
	ctx := context.Background()
	var cps [][]byte
	for i := range 23 {
		if err := s.Record(ctx, audittest.Event(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
		if i == 9 || i == 22 {
			cp, _ := s.Checkpoint(ctx)
			cps = append(cps, cp)
		}
	}
	for _, seq := range []uint64{1, 10, 17, 23} {
		pr, err := s.Prove(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if _, e, err := pr.Verify(vs); err != nil || e.Seq != seq {
			t.Fatalf("seq %d: %v", seq, err)
		}
	}
	cons, err := s.ProveConsistency(ctx, cps[0], cps[1])
	if err != nil {
		t.Fatal(err)
	}
	if o, n, err := cons.Verify(vs); err != nil || o.Size != 10 || n.Size != 23 {
		t.Fatalf("consistency %d→%d: %v", o.Size, n.Size, err)
	}
	var tools []string
	err = s.Query(ctx, audit.Filter{Agent: "support-bot"}, func(e audit.Event) error { tools = append(tools, e.ID); return nil })
	if err != nil || len(tools) != 23 {
		t.Fatalf("query: %d events, %v", len(tools), err)
	}
}
