package audit

import (
	"errors"
	"fmt"
)

// Errors of sinks.
var (
	// ErrClosed is returned by a sink's Record after Close.
	ErrClosed = errors.New("audit: sink closed")
	// ErrUnavailable is returned, wrapping the cause, by Record while a sink
	// cannot make events durable: a write or fsync failed (a full disk, say)
	// and the sink has not yet recovered, or its database is down. The guard
	// denies every call meanwhile.
	ErrUnavailable = errors.New("audit: sink unavailable")
	// ErrQueueFull is returned by [Async.Record] when its queue stayed full for
	// the whole wait.
	ErrQueueFull = errors.New("audit: queue full")
	// ErrNotReady is returned by the methods of a zero or nil sink, log or
	// tree that needs its constructor (OpenFile, OpenLog, NewAsync, …): never
	// a panic.
	ErrNotReady = errors.New("audit: not ready (use its constructor)")
)

// Errors of logs at rest. [Log.Verify] and [Checker] report each as the Err of a
// [*VerifyError] that names the first bad record.
var (
	// ErrCorrupt reports an audit log that cannot be read back as a sequence of
	// records: a line that is not a canonical JSON event, or a damaged hashes
	// file.
	ErrCorrupt = errors.New("audit: corrupt log")
	// ErrModified: a record's bytes do not hash to the value stored for it.
	ErrModified = errors.New("audit: record modified")
	// ErrMissing: records are missing (deleted) from the sequence.
	ErrMissing = errors.New("audit: record missing")
	// ErrDuplicate: a record appears twice.
	ErrDuplicate = errors.New("audit: record duplicated")
	// ErrInserted: a record claims a sequence number another record has.
	ErrInserted = errors.New("audit: record inserted")
	// ErrReordered: records are out of order.
	ErrReordered = errors.New("audit: records reordered")
	// ErrTruncated: the log is shorter than a trusted checkpoint.
	ErrTruncated = errors.New("audit: log truncated")
	// ErrFork: the log's tree does not have the root a checkpoint of the same
	// size signed: the log was rewritten or forked.
	ErrFork = errors.New("audit: log forked")
	// ErrBadSignature: a checkpoint is not validly signed by a trusted key.
	ErrBadSignature = errors.New("audit: bad checkpoint signature")
	// ErrNotCovered: a proof was asked for a record or size that the latest
	// checkpoint does not cover yet.
	ErrNotCovered = errors.New("audit: not covered by a checkpoint")
	// ErrBadProof: a proof does not verify.
	ErrBadProof = errors.New("audit: bad proof")
)

// VerifyError reports the first problem found in a log: what it is (Err, one of
// the sentinels above) and where. It matches its Err with errors.Is.
type VerifyError struct {
	// Index is the 1-based position in the log of the first bad record (the
	// seq it should have), or 0 when the problem is not one record's, such as
	// a fork or a bad signature.
	Index uint64
	// Seq is the sequence number the bad record carries, if it could be read.
	Seq uint64
	// Segment and Offset locate the bad record in a file log.
	Segment string
	Offset  int64
	Err     error
	Detail  string
}

func (e *VerifyError) Error() string {
	if e == nil || e.Err == nil {
		return "audit: verify error"
	}
	msg := e.Err.Error()
	if e.Index > 0 {
		msg += fmt.Sprintf(": record %d", e.Index)
	}
	if e.Segment != "" {
		msg += fmt.Sprintf(" (%s, offset %d)", e.Segment, e.Offset)
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

func (e *VerifyError) Unwrap() error {
	if e == nil {
		return nil
	}
	return e.Err
}
