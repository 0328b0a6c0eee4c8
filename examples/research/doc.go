// Command research is the research-model scenario, offline: a model answers
// questions from a small in-process vector store, and the audit log alone is
// enough to reconstruct which prompt led to each query, what it asked and what
// came back.
//
// Each model turn passes its conversation and prompt ids with the call
// (tools.WithCall); the enforcer records arguments and outputs
// (tools.Options.RecordArgs and RecordOutput).
// After the conversation the program reopens the log and prints the timeline
// it rebuilds from it, the same one `modelguard audit query -session ID LOG`
// prints. The policy is policy.yaml beside this file.
//
//	go run ./examples/research [-dir DIR]
package main
