package signednote

import (
	"crypto/rand"
	"testing"

	"golang.org/x/mod/sumdb/note"
)

// TestEveryBitFlipRefused: a signed note with any one bit of any byte flipped
// never opens — in its text, its signature's name, or its base64, the last
// character's unused pad bits included (note.Open alone accepts those).
func TestEveryBitFlipRefused(t *testing.T) {
	skey, vkey, err := note.GenerateKey(rand.Reader, "log.example/a")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := note.NewSigner(skey)
	v, _ := note.NewVerifier(vkey)
	known := note.VerifierList(v)
	for _, text := range []string{"log.example/a\n3\nq1zGzGk3l6ib4ZqbYUh0s5ibWxXcC4eXIk6JOa6ZXxw=\n", "x\n", "a longer text\nwith lines\n"} {
		msg, err := note.Sign(&note.Note{Text: text}, s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Open(msg, known); err != nil {
			t.Fatalf("untouched note: %v", err)
		}
		lenient := 0
		for i := range msg {
			for bit := range 8 {
				m := append([]byte(nil), msg...)
				m[i] ^= 1 << bit
				if _, err := Open(m, known); err == nil {
					t.Fatalf("byte %d bit %d flipped: the note opened", i, bit)
				}
				if _, err := note.Open(m, known); err == nil {
					lenient++
				}
			}
		}
		t.Logf("%q: note.Open alone accepted %d of %d flips", text, lenient, 8*len(msg))
	}
}
