// Command support is the support-agent scenario, offline: a model that answers
// customer tickets may read them but not change them, may never export their
// attachments, and never sees a customer's e-mail address.
//
// It plays one scripted conversation of a support model through guarded tools
// (as a model's tool calls arrive: a name and JSON arguments), prints what the
// model saw for each call, and writes the audit log to a file whose path it
// prints. The policy is policy.yaml beside this file.
//
//	go run ./examples/support [-dir DIR]
package main
