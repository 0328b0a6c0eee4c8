package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/identity/identitytest"
	"github.com/modelguard/modelguard/identity/postgres"
)

// pool connects to the server named by MODELGUARD_TEST_POSTGRES, or skips.
func pool(t *testing.T) *pgxpool.Pool {
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

// schema returns a fresh schema name, dropped when t ends.
func schema(t *testing.T, p *pgxpool.Pool) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	name := "mg_identity_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		p.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+name+" CASCADE")
	})
	return name
}

// open returns an initialised store in schema on p.
func open(t *testing.T, p *pgxpool.Pool, schema string, now func() time.Time) *postgres.Store {
	t.Helper()
	s, err := postgres.New(p, postgres.Options{Schema: schema, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Init(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	p := pool(t)
	identitytest.TestStore(t, func(t *testing.T, now func() time.Time) identitytest.Store {
		return open(t, p, schema(t, p), now)
	})
}

// TestInitConcurrent runs Init from several instances at once, and twice.
func TestInitConcurrent(t *testing.T) {
	p := pool(t)
	name := schema(t, p)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			s, err := postgres.New(p, postgres.Options{Schema: name})
			if err != nil {
				t.Error(err)
				return
			}
			for range 2 {
				if err := s.Init(context.Background()); err != nil && !isRace(err) {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if err := open(t, p, name, nil).Init(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// isRace reports the unique-violation PostgreSQL raises when two sessions
// run CREATE … IF NOT EXISTS at the same instant; Init is simply run again.
func isRace(err error) bool {
	return err != nil && (contains(err, "23505") || contains(err, "duplicate key"))
}

func contains(err error, s string) bool {
	return err != nil && strings.Contains(err.Error(), s)
}

func TestPurge(t *testing.T) {
	p := pool(t)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	s := open(t, p, schema(t, p), clock)
	ctx := context.Background()
	for _, j := range []string{"a", "b", "c"} {
		if err := s.Use(ctx, "iss", j, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Revoke(ctx, identity.Revocation{Kind: identity.RevokeToken, Issuer: "iss", Value: "a", Expires: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Purge(ctx); err != nil || n != 0 {
		t.Fatalf("purge before expiry: %d, %v", n, err)
	}
	now = now.Add(time.Minute)
	if n, err := s.Purge(ctx); err != nil || n != 4 {
		t.Fatalf("purge after expiry: %d, %v; want 4 rows", n, err)
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"x; DROP TABLE y", "1abc", `a"b`, "a-b"} {
		if _, err := postgres.New(&pgxpool.Pool{}, postgres.Options{Schema: name}); !errors.Is(err, identity.ErrConfig) {
			t.Errorf("schema %q: %v, want ErrConfig", name, err)
		}
	}
	if _, err := postgres.New(nil, postgres.Options{}); !errors.Is(err, identity.ErrConfig) {
		t.Errorf("nil db: %v", err)
	}
}
