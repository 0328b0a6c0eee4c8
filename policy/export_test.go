package policy

// CompileUnshared compiles every rule afresh for t, as Compile did before
// rules were shared between tools of one shape: the reference the shared
// programs are held to, and the baseline of BenchmarkCompileFleet.
func CompileUnshared(s *Set, t Tool) (*Program, error) { return s.compile(t, false) }
