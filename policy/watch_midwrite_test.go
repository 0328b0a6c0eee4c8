package policy

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"
	"testing"
)

// TestSettleNeverTakesAWriteInProgress: whatever the sequence of contents seen
// at successive polls, a content is taken only when two consecutive polls saw
// it (so a file that changes between every two polls — a write in progress — is
// never taken), and every content that stays put for two polls is taken once.
func TestSettleNeverTakesAWriteInProgress(t *testing.T) {
	t.Parallel()
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 7))
		sum := func(v int) []byte { h := sha256.Sum256([]byte{byte(v)}); return h[:] }
		st := settle{last: sum(0)}
		prev, taken := sum(0), sum(0)
		for range 200 {
			var cur []byte
			if r.IntN(3) == 0 {
				cur = prev // the writer paused for a poll
			} else {
				cur = sum(r.IntN(5))
			}
			stable := bytes.Equal(cur, prev)
			got := st.take(cur)
			switch {
			case got && !stable:
				t.Fatalf("seed %d: took a content seen at one poll only", seed)
			case got && bytes.Equal(cur, taken):
				t.Fatalf("seed %d: took the content already in force", seed)
			case !got && stable && !bytes.Equal(cur, taken):
				t.Fatalf("seed %d: a content stable for two polls was not taken", seed)
			}
			if got {
				taken = cur
			}
			prev = cur
		}
	}
}
