package policy_test

import (
	"context"
	"fmt"
	"reflect"

	"github.com/modelguard/modelguard/identity"
	"github.com/modelguard/modelguard/policy"
)

func Example() {
	rules, err := policy.Parse("payments.yaml", []byte(`
rules:
  - id: payments-small
    effect: permit
    tools: ["payments.initiate"]
    when: identity.agent == "finance-bot" && args.amount_cents <= 50000
  - id: no-prod-payments-from-staging
    effect: forbid
    tools: ["payments.*"]
    when: identity.env != "prod"
    message: "'payments are disabled in ' + identity.env"
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	set, err := policy.NewSet(rules, policy.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	type payment struct {
		AmountCents int64  `json:"amount_cents"`
		Payee       string `json:"payee"`
	}
	prog, err := set.Compile(policy.Tool{Name: "payments.initiate", Input: reflect.TypeFor[payment]()})
	if err != nil {
		fmt.Println(err)
		return
	}
	bot := &identity.Claims{Subject: "model:fin-1", Agent: "finance-bot", Env: "prod"}
	for _, amount := range []int64{12000, 90000} {
		d := prog.Decide(context.Background(), policy.Input{Identity: bot, Args: &payment{AmountCents: amount}})
		fmt.Println(amount, d.Allowed, d.Rules, d.Reasons)
	}
	staging := &identity.Claims{Subject: "model:fin-2", Agent: "finance-bot", Env: "staging"}
	d := prog.Decide(context.Background(), policy.Input{Identity: staging, Args: &payment{AmountCents: 100}})
	fmt.Println(d.Allowed, d.Rules, d.Messages)
	fmt.Println(d.Reasons)
	// Output:
	// 12000 true [payments-small] []
	// 90000 false [] [no rule permits payments.initiate: the conditions of the permit rules covering it were false (payments-small)]
	// false [no-prod-payments-from-staging] [payments are disabled in staging]
	// [forbid rule no-prod-payments-from-staging matched: payments are disabled in staging]
}

// A misspelled argument field is an error when the rules are compiled for the
// tool, naming the file, line, column, rule and tool.
func ExampleSet_Compile_typeError() {
	rules, _ := policy.Parse("tickets.yaml", []byte(`
rules:
  - id: tickets-read
    effect: permit
    tools: ["tickets.get"]
    when: args.ticket_id.startsWith("T-")
`))
	set, _ := policy.NewSet(rules, policy.Options{})
	type getTicket struct {
		ID string `json:"id"`
	}
	_, err := set.Compile(policy.Tool{Name: "tickets.get", Input: reflect.TypeFor[getTicket]()})
	fmt.Println(err)
	// Output:
	// tickets.yaml:6:15: rule tickets-read: tool tickets.get: undefined field 'ticket_id'
}
