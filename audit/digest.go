package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sync"
)

// DigestPrefix starts every digest this package computes.
const DigestPrefix = "sha256:"

// Digest returns "sha256:" and the hex SHA-256 of v's JSON encoding, as produced by
// encoding/json (struct fields in declaration order, map keys sorted). Equal values
// of one Go type always have equal digests, so a digest in an audit record can be
// checked against the value it claims to describe.
func Digest(v any) (string, error) {
	d, _, err := DigestLen(v)
	return d, err
}

// DigestLen is [Digest] that also returns the length of the JSON encoding.
func DigestLen(v any) (string, int, error) {
	enc := encoders.Get().(*encoder)
	defer func() {
		if enc.buf.Cap() <= 64<<10 { // don't pin a huge buffer in the pool
			encoders.Put(enc)
		}
	}()
	enc.buf.Reset()
	if err := enc.enc.Encode(v); err != nil {
		return "", 0, err
	}
	b := enc.buf.Bytes()
	b = b[:len(b)-1] // Encode adds a newline that Marshal does not
	return DigestBytes(b), len(b), nil
}

// encoder is a reusable JSON encoder: Digest is on the hot path of every call.
type encoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var encoders = sync.Pool{New: func() any {
	e := new(encoder)
	e.enc = json.NewEncoder(&e.buf)
	return e
}}

// DigestBytes returns "sha256:" and the hex SHA-256 of b.
func DigestBytes(b []byte) string {
	sum := sha256.Sum256(b)
	var out [len(DigestPrefix) + 2*sha256.Size]byte
	copy(out[:], DigestPrefix)
	hex.Encode(out[len(DigestPrefix):], sum[:])
	return string(out[:])
}
