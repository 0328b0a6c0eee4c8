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
package main
