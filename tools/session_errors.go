package tools

import "errors"

// Session errors. A call whose rules read history is denied with one of them
// (in a [*DeniedError]) when that history cannot be had; calls whose rules read
// none are not affected.
var (
	// ErrSessionStore: the session store failed (it is down, or returned an
	// error).
	ErrSessionStore = errors.New("tools: session store failed")
	// ErrSessionConflict: the session changed between the read and the record
	// of a call, again and again; returned by [SessionStore.Append] for one
	// conflict, and as a denial after several.
	ErrSessionConflict = errors.New("tools: session changed during the decision")
	// ErrNoSession: a rule reads the session, but the call names none (see
	// [WithCall]).
	ErrNoSession = errors.New("tools: no session id")
)
