// Package audit records what every guarded tool call attempted, by whom, how it
// was decided and why, and how it ended, in a log an investigator can prove
// things with.
//
// # Events
//
// A guarded call produces exactly one decision [Event] before the tool runs and,
// if the tool ran, exactly one outcome [Event] after. Events carry the verified
// identity's claims (never the token), the rule ids, reasons and control tags of
// the decision, the policy version, the conversation, prompt and trace ids that tie
// the call to what led to it, and SHA-256 digests of the arguments and the output
// (see [Digest]); the redacted output itself only when the guard is configured to
// record it. JSON names follow the OpenTelemetry GenAI semantic conventions where
// one exists: gen_ai.tool.name, gen_ai.tool.call.id, gen_ai.agent.id,
// gen_ai.conversation.id, error.type.
//
// # Sinks
//
// A [Sink] has one method, Record. Sinks do their own locking, never drop an event
// because the caller's context ended, and return an error when an event may not
// be durable: the guard then denies the call, so that nothing happens that was not
// recorded. [SinkFunc] adapts a function, [Multi] fans out and joins errors.
// Built in: [Memory] for tests, [File] (the tamper-evident log) and [Async]
// (a bounded queue in front of another sink). The audittest package checks a
// custom sink against this contract; nested modules add PostgreSQL and
// OpenTelemetry sinks.
//
// # The log
//
// A [File] writes each event as one line of canonical JSON (see
// [MarshalRecord]): its sequence number and time are inside the bytes, and
// those bytes are a leaf of an RFC 6962 Merkle tree (computed with
// [golang.org/x/mod/sumdb/tlog]). The tree's stored hashes live in a file beside
// the log, so reopening a large log re-hashes only the records after its latest
// checkpoint. A [Checkpoint] states the tree's size and root in the C2SP
// tlog-checkpoint format and is signed with Ed25519 as a C2SP signed note
// ([golang.org/x/mod/sumdb/note]); the log writes one every
// [FileOptions].CheckpointEvery records or CheckpointInterval, before a rotation
// and on Close, never one that does not extend the last, and hands each to
// OnCheckpoint to ship elsewhere. Rotation moves the active file to numbered
// segments that all belong to one tree. A line torn by a crash is cut on open
// and a [PhaseRecovery] record says where and what.
//
// # Durability
//
// [GroupCommit] (the default) returns from Record once an fsync covering the
// record is done, sharing each fsync among concurrent callers; [SyncEach]
// fsyncs every record alone; [Buffered] returns once the record is buffered. A
// write or fsync error puts the log in a failed state in which Record fails
// with [ErrUnavailable], so the guard denies calls, until a retry cuts the
// files back to their last good state and succeeds. Records whose Record call
// failed are never in the log; records whose call succeeded always are, unless
// the machine crashed before a Buffered log wrote them. [File.Stats] counts
// failures; [FileOptions].OnError reports them.
//
// # Verifying and proving
//
// [Log] opens a log at rest. [Log.Verify] re-derives the tree and reports the
// first problem as a [*VerifyError] that names the record: a modified
// ([ErrModified]), deleted ([ErrMissing]), inserted ([ErrInserted]),
// duplicated ([ErrDuplicate]) or reordered ([ErrReordered]) record, a log
// shorter than a trusted checkpoint ([ErrTruncated]), a log whose root differs
// from a checkpoint of the same size ([ErrFork]), or a checkpoint with a bad
// signature ([ErrBadSignature]). [Log.Prove] and [Log.ProveConsistency] make
// self-contained proofs that [InclusionProof.Verify] and
// [ConsistencyProof.Verify] check with nothing but the log's public key.
// [Checker] is the storage-independent verifier other stores reuse.
//
// # Investigating
//
// [Log.Query] selects events with a [Filter] (subject, agent, model, tenant,
// tool, decision, rule, session, prompt, time range) to rebuild a timeline:
// what an agent saw and did in a session, which prompt led to each call and
// which rule allowed it. The modelguard command's audit verify, prove and query
// subcommands are built on these.
package audit
