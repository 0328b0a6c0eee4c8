package main

import (
	"context"
	"errors"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"
)

// dbFlags are the -db and -prefix flags of the commands that work on a
// PostgreSQL store (approve, kill): the DSN defaults to the environment
// variable env, the table prefix to the store's own default.
type dbFlags struct {
	db, prefix string
	env, what  string
}

func (d *dbFlags) register(fset interface {
	StringVar(*string, string, string, string)
}) {
	fset.StringVar(&d.db, "db", os.Getenv(d.env), "PostgreSQL `dsn` of the "+d.what)
	fset.StringVar(&d.prefix, "prefix", "", "table name `prefix` (default modelguard_)")
}

// openStore connects to the database and builds the store with mk; the
// returned func closes the connection pool.
func openStore[T any](ctx context.Context, d *dbFlags, mk func(context.Context, *pgxpool.Pool, string) (T, error)) (T, func(), error) {
	var zero T
	if d.db == "" {
		return zero, nil, errors.New("no database: set -db or " + d.env)
	}
	pool, err := pgxpool.New(ctx, d.db)
	if err != nil {
		return zero, nil, err
	}
	s, err := mk(ctx, pool, d.prefix)
	if err != nil {
		pool.Close()
		return zero, nil, err
	}
	return s, pool.Close, nil
}
