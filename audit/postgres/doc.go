// Package postgres keeps modelguard's tamper-evident audit log in PostgreSQL.
//
// # The log
//
// A [Sink] writes the same canonical records as the file log
// ([audit.MarshalRecord]) to a table, one row per record, with the RFC 6962
// Merkle tree hashes the record stores ([audit.Tree]). A database holds any
// number of log streams, each its own sequence and tree; the stream's head row
// holds its size and the right edge of its tree. Checkpoints are signed every
// [Options].CheckpointEvery records, stored in a table and handed to
// OnCheckpoint.
//
// # Several writers
//
// Any number of application instances may write one stream at once: a write
// locks the stream's head row, numbers its records after the head, adds them
// to the tree and commits records and head together, so sequence numbers
// have no gap and no duplicate. Within one instance, concurrent Record calls
// share transactions (group commit). Record returns only after the commit; if
// the database cannot be reached or the transaction fails, Record fails with
// [audit.ErrUnavailable] and the guard denies the call.
//
// # Verifying
//
// [Sink.Verify] reads the stream back in order and checks it with
// [audit.Checker] against its stored hashes, its latest checkpoint and, if
// given, a trusted checkpoint, naming the first bad record. [Sink.Prove] and
// [Sink.ProveConsistency] produce the same proofs as a file log.
//
// # Schema
//
// [New] creates, if missing, the schema named in [Options] and the tables
// modelguard_audit_head, modelguard_audit_records and
// modelguard_audit_checkpoints in it.
package postgres
