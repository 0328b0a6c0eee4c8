// Package signednote opens C2SP signed notes (golang.org/x/mod/sumdb/note)
// as modelguard's checkpoints and policy bundles use them, one way: what
// note.Open verifies, and each signature's base64 in its one canonical
// spelling. The standard decoder ignores the unused low bits of a final
// base64 character, so without this a note with a signature line changed in
// those bits (a different message, byte for byte) would verify as the same.
package signednote

import (
	"encoding/base64"
	"fmt"

	"golang.org/x/mod/sumdb/note"
)

// Open is note.Open, and then fails if any signature line, verified or not,
// is not canonical base64 (RFC 4648 §3.5: pad bits must be zero).
func Open(msg []byte, known note.Verifiers) (*note.Note, error) {
	n, err := note.Open(msg, known)
	if err != nil {
		return n, err
	}
	for _, sigs := range [][]note.Signature{n.Sigs, n.UnverifiedSigs} {
		for _, s := range sigs {
			if _, err := base64.StdEncoding.Strict().DecodeString(s.Base64); err != nil {
				return nil, fmt.Errorf("signature by %s is not canonical base64", s.Name)
			}
		}
	}
	return n, nil
}
