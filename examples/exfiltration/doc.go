// Command exfiltration shows session-aware policy closing the "lethal
// trifecta": an agent reads a private document, fetches a web page whose text
// tells it to mail the document away, and the send is denied because the
// session has seen both private and untrusted data. docs.read declares its
// output private and web.fetch untrusted (tools.Tool.OutputLabels); the forbid
// rule in policy.yaml reads session.labels. The program then queries the audit
// log for the session and prints the chain: what was read, what labels each
// call left, and why the send was refused.
//
//	go run ./examples/exfiltration [-dir DIR]
package main
