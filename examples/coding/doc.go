// Command coding is the coding-assistant scenario, offline: a model that works
// on a repository may read its sources, may deploy to staging, needs a human's
// approval to deploy to production or to read a production secret, and never
// sees the deploy token the deploy tool uses.
//
// It plays one scripted session: the model's tool calls, a human approver who
// approves the production deploy and denies the secret, and the model's
// retries. It prints every step and writes the audit log to a file whose path it
// prints. The policy is policy.yaml beside this file.
//
//	go run ./examples/coding [-dir DIR]
package main
