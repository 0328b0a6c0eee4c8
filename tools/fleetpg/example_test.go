package fleetpg_test

import (
	"context"
	"log"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/tools"
	"github.com/modelguard/modelguard/tools/fleetpg"
)

// Every instance of a fleet builds its enforcer the same way on one
// database: the kill switch and the rate limits and budgets are then the
// fleet's, not the process's.
func ExampleNewLimits() {
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, "postgres://modelguard@127.0.0.1/modelguard")
	if err != nil {
		log.Fatal(err)
	}
	kills, err := fleetpg.NewKills(ctx, pool, fleetpg.KillOptions{})
	if err != nil {
		log.Fatal(err)
	}
	limits, err := fleetpg.NewLimits(ctx, pool, fleetpg.LimitOptions{})
	if err != nil {
		log.Fatal(err)
	}
	go kills.Run(ctx)  // LISTEN/NOTIFY and polling
	go limits.Run(ctx) // sweeps refilled buckets and expired charges
	var (
		verifier tools.Verifier // an *identity.Verifier
		set      *policy.Set    // the policy, e.g. from a signed bundle
		sink     audit.Sink     // e.g. audit/postgres on the same database
	)
	enf, err := tools.NewEnforcer(verifier, set, sink, tools.Options{Kill: kills, LimitStore: limits})
	if err != nil {
		log.Fatal(err)
	}
	_ = enf // wrap each tool with tools.Wrap(enf, …)
}
