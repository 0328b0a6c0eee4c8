package policy

// CompileUnshared compiles every rule afresh for t, as Compile did before
// rules were shared between tools of one shape: the reference the shared
// programs are held to, and the baseline of BenchmarkCompileFleet.
func CompileUnshared(s *Set, t Tool) (*Program, error) {
	return s.compile(t, compileMode{unshared: true})
}

// CompileUnindexed compiles t without the equality index: every rule is
// evaluated on every call, the reference of FuzzEqualityIndex.
func CompileUnindexed(s *Set, t Tool) (*Program, error) {
	return s.compile(t, compileMode{unindexed: true})
}

// Indexed reports how many equality indexes p has.
func Indexed(p *Program) int { return len(p.eq) }
