// Package policytest runs YAML policy test files (see [policy.Case]) from go test,
// one subtest per case, and reports which rules no case exercised.
//
//	func TestPolicy(t *testing.T) {
//		set, _ := policy.Load(policy.Options{}, "policy.yaml")
//		policytest.Run(t, set, tools, "policy_test.yaml")
//	}
package policytest
