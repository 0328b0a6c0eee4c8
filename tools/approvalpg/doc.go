// Package approvalpg is a PostgreSQL approval queue for modelguard: every
// application instance that shares the database sees the same approval
// requests and picks up a grant approved anywhere. Single-use grants are spent
// through the one-time-use store tokens use ([tools.ApprovalOptions].Used):
// give the instances the shared identity/postgres store (idStore below) and a
// grant is spent exactly once across all of them.
//
// # Use
//
//	pool, _ := pgxpool.New(ctx, dsn)
//	q, _ := approvalpg.New(ctx, pool, approvalpg.Options{})
//	enf, _ := tools.NewEnforcer(v, set, sink, tools.Options{
//		Approvals: tools.ApprovalOptions{Verifier: grantVerifier, Queue: q, Used: idStore},
//	})
//
// `modelguard approve list|grant|deny -db DSN` works against the same tables.
//
// # Failing closed
//
// A database error is returned to the guard, which then denies the call: an
// approval that cannot be looked up or recorded is not an approval.
package approvalpg
