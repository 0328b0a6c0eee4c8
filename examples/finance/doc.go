// Command finance is the finance-model scenario, offline: a model that
// summarises invoices may initiate a payment only under a temporary grant that
// a human approved for that exact payment.
//
// It plays the approval flow end to end on a simulated clock: the model's
// payment is denied and an approval request is filed; a human reviews the
// request and signs a grant valid for 15 minutes; the model's retry is allowed
// once; a duplicate is refused; a grant that expired before the model came
// back is refused; an amount above the cap is never permitted. It prints every
// step and writes the audit log, which names the approver of each payment, to a
// file whose path it prints. The policy is policy.yaml beside this file.
//
//	go run ./examples/finance [-dir DIR]
//
// With -console ADDR a real human approves instead: it serves the operator
// console (package tools/console) on ADDR over the desk's queue and signed
// audit log, prints the approver's sign-in token and the request's page,
// waits until the request is decided there, retries the payment, and keeps
// serving the session explorer until interrupted.
//
//	go run ./examples/finance -console 127.0.0.1:8080
package main
