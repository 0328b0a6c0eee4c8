package access

import (
	"maps"
	"slices"
	"time"
)

// InventoryOptions tune [Usage.Inventory]. The zero value gives the defaults
// noted on each field.
type InventoryOptions struct {
	// Now is the time staleness is measured from. Default: the last decision in
	// the log (so an old log reads the same on every day).
	Now time.Time
	// StaleAfter flags identities not seen for this long before Now. Default 30
	// days.
	StaleAfter time.Duration
}

// Identity is one model identity seen in an audit log.
type Identity struct {
	Key
	// Models are provider/name/version as recorded, Scopes the union of the
	// scopes of its tokens, Tokens how many distinct token ids (jti) it used.
	Models    []string  `json:"models,omitempty"`
	Scopes    []string  `json:"scopes,omitempty"`
	Tokens    int       `json:"tokens"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Calls     Count     `json:"calls"`
	Tools     []Tool    `json:"tools"`
	// Stale is set when the identity was last seen more than StaleAfter before
	// Now: a candidate for removal.
	Stale bool `json:"stale,omitempty"`
}

// Tool is how one tool was called.
type Tool struct {
	Tool  string `json:"tool"`
	Calls Count  `json:"calls"`
}

// Inventory lists every model identity in the log, sorted by subject, with when
// it was first and last seen and what it called. Key ids and token lifetimes are
// not in audit events (a guard records claims, not the token or its header), so
// they are not part of it.
func (u *Usage) Inventory(opts InventoryOptions) []Identity {
	if u == nil || u.ids == nil {
		return nil
	}
	if opts.Now.IsZero() {
		opts.Now = u.last
	}
	if opts.StaleAfter <= 0 {
		opts.StaleAfter = 30 * 24 * time.Hour
	}
	var out []Identity
	for _, iu := range u.sortedIDs() {
		id := Identity{Key: iu.key, Models: sortedSet(iu.models), Scopes: sortedSet(iu.scopes), Tokens: len(iu.tokens),
			FirstSeen: iu.first, LastSeen: iu.last, Calls: iu.count, Tools: toolCounts(iu.tools),
			Stale: opts.Now.Sub(iu.last) > opts.StaleAfter}
		out = append(out, id)
	}
	return out
}

func sortedSet(m map[string]bool) []string {
	return slices.Sorted(maps.Keys(m))
}

func toolCounts(m map[string]*Count) []Tool {
	out := make([]Tool, 0, len(m))
	for _, name := range slices.Sorted(maps.Keys(m)) {
		out = append(out, Tool{Tool: name, Calls: *m[name]})
	}
	return out
}
