package policytest_test

import (
	"reflect"
	"testing"

	"github.com/modelguard/modelguard/policy"
	"github.com/modelguard/modelguard/policy/policytest"
)

type payment struct {
	AmountCents int64  `json:"amount_cents"`
	Payee       string `json:"payee"`
}

func TestSupportPolicy(t *testing.T) {
	set, err := policy.Load(policy.Options{}, "../testdata/support/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tools := []policy.Tool{{Name: "payments.initiate", Input: reflect.TypeFor[payment]()}}
	rep := policytest.Run(t, set, tools, policytest.Options{RequireCoverage: true}, "../testdata/support/policy_test.yaml")
	if len(rep.Results) != 5 {
		t.Fatalf("ran %d cases, want 5", len(rep.Results))
	}
}
