package console

// SetSlowProofs makes every proof read its record from the log, for tests
// and benchmarks that compare with the fast path.
func SetSlowProofs(on bool) { slowProofs = on }
