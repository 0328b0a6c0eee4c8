package audit

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"

	"github.com/modelguard/modelguard/internal/signednote"
	"golang.org/x/mod/sumdb/tlog"
)

// Checkpoint is the signed statement of a log's size and root hash, in the C2SP
// tlog-checkpoint format: the origin (the log's name, which is also the name of
// the key that signs it), the number of records and the RFC 6962 root hash in
// base64, one per line, then optional extension lines. Signed, it is a C2SP
// signed note (see [golang.org/x/mod/sumdb/note]) with an Ed25519 signature.
type Checkpoint struct {
	Origin string
	Size   int64
	Hash   tlog.Hash
	// Extra holds extension lines, kept so that a parsed checkpoint
	// re-encodes to the same text.
	Extra []string
}

// maxCheckpoint bounds a checkpoint or signed note read from outside.
const maxCheckpoint = 64 << 10

// Text returns the checkpoint's note text: the bytes that are signed.
func (c Checkpoint) Text() []byte {
	b := fmt.Appendf(nil, "%s\n%d\n%s\n", c.Origin, c.Size, base64.StdEncoding.EncodeToString(c.Hash[:]))
	for _, x := range c.Extra {
		b = append(append(b, x...), '\n')
	}
	return b
}

// ParseCheckpoint parses checkpoint text (the body of the signed note, without
// signatures). It is strict: exactly what [Checkpoint.Text] produces parses.
func ParseCheckpoint(text []byte) (Checkpoint, error) {
	bad := func(why string) (Checkpoint, error) {
		return Checkpoint{}, fmt.Errorf("%w: malformed checkpoint: %s", ErrCorrupt, why)
	}
	if len(text) > maxCheckpoint || !utf8.Valid(text) {
		return bad("too long or not UTF-8")
	}
	if !bytes.HasSuffix(text, []byte("\n")) {
		return bad("no final newline")
	}
	lines := strings.Split(string(text[:len(text)-1]), "\n")
	if len(lines) < 3 {
		return bad("fewer than three lines")
	}
	var c Checkpoint
	c.Origin = lines[0]
	if c.Origin == "" || strings.IndexFunc(c.Origin, unicode.IsSpace) >= 0 {
		return bad("bad origin")
	}
	n, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil || n < 0 || lines[1] != strconv.FormatInt(n, 10) {
		return bad("bad size")
	}
	c.Size = n
	h, err := base64.StdEncoding.Strict().DecodeString(lines[2]) // one spelling per hash (RFC 4648 §3.5)
	if err != nil || len(h) != tlog.HashSize {
		return bad("bad root hash")
	}
	copy(c.Hash[:], h)
	for _, x := range lines[3:] {
		if x == "" {
			return bad("empty extension line")
		}
		c.Extra = append(c.Extra, x)
	}
	return c, nil
}

// SignCheckpoint returns c as a note signed by s. The origin must be the
// signer's name: a checkpoint names the log and the key that vouches for it.
func SignCheckpoint(c Checkpoint, s note.Signer) ([]byte, error) {
	if s == nil {
		return nil, errors.New("audit: SignCheckpoint: nil signer")
	}
	if c.Origin != s.Name() {
		return nil, fmt.Errorf("audit: checkpoint origin %q is not the signer's name %q", c.Origin, s.Name())
	}
	return note.Sign(&note.Note{Text: string(c.Text())}, s)
}

// OpenCheckpoint verifies the signed checkpoint msg with the known keys and
// returns it. It fails with [ErrBadSignature] unless a known key whose name is
// the checkpoint's origin signed it, and no known key's signature is bad.
func OpenCheckpoint(msg []byte, known note.Verifiers) (Checkpoint, error) {
	if len(msg) > maxCheckpoint {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint too long", ErrCorrupt)
	}
	if !bytes.Contains(msg, []byte("\n\n")) {
		return Checkpoint{}, &VerifyError{Err: ErrBadSignature, Detail: "the checkpoint is not signed"}
	}
	n, err := signednote.Open(msg, known)
	if err != nil {
		var unverified *note.UnverifiedNoteError
		var invalid *note.InvalidSignatureError
		if errors.As(err, &unverified) || errors.As(err, &invalid) {
			return Checkpoint{}, &VerifyError{Err: ErrBadSignature, Detail: err.Error()}
		}
		if _, perr := UnsafeParseSignedCheckpoint(msg); perr == nil {
			return Checkpoint{}, &VerifyError{Err: ErrBadSignature, Detail: "malformed signature: " + err.Error()}
		}
		return Checkpoint{}, fmt.Errorf("%w: checkpoint: %v", ErrCorrupt, err)
	}
	c, err := ParseCheckpoint([]byte(n.Text))
	if err != nil {
		return Checkpoint{}, err
	}
	for _, s := range n.Sigs {
		if s.Name == c.Origin {
			return c, nil
		}
	}
	return Checkpoint{}, &VerifyError{Err: ErrBadSignature, Detail: fmt.Sprintf("no trusted signature by the origin %q", c.Origin)}
}

// UnsafeParseSignedCheckpoint returns the checkpoint in a signed note without
// checking any signature. It is for tools that show or prove against a
// checkpoint; trust it only after [OpenCheckpoint].
func UnsafeParseSignedCheckpoint(msg []byte) (Checkpoint, error) {
	if len(msg) > maxCheckpoint {
		return Checkpoint{}, fmt.Errorf("%w: checkpoint too long", ErrCorrupt)
	}
	i := bytes.Index(msg, []byte("\n\n"))
	if i < 0 {
		return ParseCheckpoint(msg)
	}
	return ParseCheckpoint(msg[:i+1])
}
