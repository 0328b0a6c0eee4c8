// Package fleetpg makes a fleet of modelguard instances behave as one, on
// PostgreSQL: a kill switch every instance obeys within moments of its
// activation (LISTEN/NOTIFY, with polling as the fallback), and rate limits
// and budgets shared by every instance, exact across them.
//
// # Kill switch
//
//	pool, _ := pgxpool.New(ctx, dsn)
//	kills, _ := fleetpg.NewKills(ctx, pool, fleetpg.KillOptions{})
//	go kills.Run(ctx)
//	enf, _ := tools.NewEnforcer(v, set, sink, tools.Options{Kill: kills})
//
// `modelguard kill agent support-bot -by alice -reason "loops"` (and `kill lift`,
// `kill list`) works against the same table. Each activation and each lift is a
// row that keeps who did it and when; lifted kills are kept, so the table is
// also the kill switch's audit trail (and, with KillOptions.Sink, each one is
// also an event in the audit log).
//
// # Failing closed
//
// The guard checks the kill switch on every call against an in-memory view, so
// the check costs no round trip. The view is refreshed on every notification and
// at least every KillOptions.Poll. If it could not be refreshed for longer than
// KillOptions.MaxStale (the database is down, the listener lost), every call is
// denied with tools.CodeKillSwitchUnavailable until a refresh succeeds: an
// instance that cannot hear a kill switch does not run tools.
//
// # Shared rate limits and budgets
//
//	limits, _ := fleetpg.NewLimits(ctx, pool, fleetpg.LimitOptions{})
//	go limits.Run(ctx) // sweeps expired rows
//	enf, _ := tools.NewEnforcer(v, set, sink, tools.Options{Kill: kills, LimitStore: limits})
//
// A rate limit costs one statement per call (GCRA in an upsert: two instances
// never both take the last token); a budget one round trip that locks the
// account, drops what left its window, checks its running total and inserts
// the charge in one transaction, before
// the tool runs, and is refunded (the charge deleted) when the call does not
// go ahead. Rows are keyed by rule, tool and principal, so reloads and
// restarts find them as they were. If the database cannot answer within
// LimitOptions.Timeout, the call is denied with tools.CodeLimitsUnavailable.
// [Limits.Sweep] deletes refilled buckets, charges out of their window and
// empty accounts, so the tables hold at most the charges of one window.
package fleetpg
