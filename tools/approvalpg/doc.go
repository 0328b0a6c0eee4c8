// Package approvalpg is a PostgreSQL approval queue for modelguard: every
// application instance that shares the database sees the same approval
// requests, picks up a grant approved anywhere, and spends a single-use grant
// exactly once.
//
// # Use
//
//	pool, _ := pgxpool.New(ctx, dsn)
//	q, _ := approvalpg.New(ctx, pool, approvalpg.Options{})
//	enf, _ := tools.NewEnforcer(v, set, sink, tools.Options{
//		Approvals: tools.ApprovalOptions{Verifier: grantVerifier, Queue: q},
//	})
//
// `modelguard approve list|grant|deny -db DSN` works against the same tables.
//
// # Failing closed
//
// A database error is returned to the guard, which then denies the call: an
// approval that cannot be looked up or recorded is not an approval.
package approvalpg
