// Package sessionpg keeps modelguard's session-aware history in PostgreSQL,
// shared by every instance of a fleet: the labels each session and principal
// has seen and the calls it made (see tools.SessionStore).
//
//	pool, _ := pgxpool.New(ctx, dsn)
//	sessions, _ := sessionpg.New(ctx, pool, sessionpg.Options{})
//	enf, _ := tools.NewEnforcer(v, set, sink, tools.Options{Sessions: sessions})
//
// A call whose rules read history costs one query to load it; every call
// that runs costs one batch to record it, in which the version check of a
// history-reading call and the writes are one transaction under the
// advisory locks of its session and principal. The database down denies the
// calls whose rules read history and those whose output carries labels
// (tools.CodeSessionUnavailable); other calls go ahead.
package sessionpg
