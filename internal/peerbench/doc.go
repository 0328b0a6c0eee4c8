// Package peerbench measures modelguard's policy decision against two peer
// engines, cedar-go and OPA, on the same policy.
//
// It lives in its own module so that the root module never depends on the
// peers: a user of modelguard pays for neither, and only this module's go.mod
// names them.
//
// # The policy
//
// One policy, three languages, in the policies directory: modelguard.yaml,
// policy.cedar and policy.rego. It covers the project's seed scenarios: a
// support agent that may read tickets but never export attachments, a finance
// model that may initiate small payments in production only, and a coding
// assistant that may read source files but never production secrets. All three
// deny by default and let a forbid win over any permit.
//
// # Equivalent work
//
// A [Call] is one authorization question. [Modelguard], [Cedar] and [OPA] each
// answer it with a [Verdict]: allowed or not, and the rules that decided. The
// equivalence tests put a table of allow and deny cases, covering every rule,
// to all three engines and to the whole modelguard guard, and fail on any
// disagreement, so the benchmarks compare the same decisions.
//
// # Benchmarks
//
// bench_test.go measures, in one run, modelguard's [policy.Program.Decide], the
// whole guarded tool call, cedar-go's [cedar.Authorize] and OPA's
// [rego.PreparedEvalQuery.Eval], each with its input built once outside the
// loop. README.md has the figures and how to reproduce them.
package peerbench
