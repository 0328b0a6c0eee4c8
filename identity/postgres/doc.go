// Package postgres keeps modelguard's replay and revocation state in
// PostgreSQL, so that every instance of an application shares it: a token
// used once on one instance is refused as a replay on all of them, and a
// revocation stored by any of them (or by an operator's tool) reaches every
// verifier within its RevocationInterval.
//
// # Use
//
//	pool, _ := pgxpool.New(ctx, dsn)
//	store, _ := postgres.New(pool, postgres.Options{})
//	if err := store.Init(ctx); err != nil { … }
//	v, _ := identity.NewVerifier(iss, aud, keys, identity.VerifierOptions{Store: store, OneTime: true})
//	store.Revoke(ctx, identity.Revocation{Kind: identity.RevokeAgent, Issuer: iss, Value: "support-bot"})
//
// # Tables
//
// [Store.Init] creates, in the schema of Options.Schema ("modelguard" by
// default), used_tokens (issuer, jti, until), keyed on issuer and decoded
// jti, and revocations (kind, issuer, value, expires, reason). Expired rows
// are deleted by [Store.Purge], which Use also runs once per
// Options.PurgeInterval.
//
// # Failure
//
// Every database error is returned as is; the verifier turns it into a
// refusal with identity.ErrStore, so a store that cannot be reached denies
// every call that needs it, and never allows one.
//
// # Testing
//
// The tests need a server: they read its DSN from MODELGUARD_TEST_POSTGRES
// (the repository's .ci/postgres starts a throwaway one) and skip without it.
// Each test works in a schema of its own.
package postgres
