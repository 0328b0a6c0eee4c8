package httpguard

// SetMaxSessions lowers the bound of s, so tests can reach it.
func SetMaxSessions(s *Sessions, n int) { s.max = n }
