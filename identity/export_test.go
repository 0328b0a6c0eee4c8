package identity

// CacheLen exposes the number of cached tokens to the external tests.
func CacheLen(v *Verifier) int { return v.cache.len() }
