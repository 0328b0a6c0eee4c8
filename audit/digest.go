package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// DigestPrefix starts every digest this package computes.
const DigestPrefix = "sha256:"

// Digest returns "sha256:" and the hex SHA-256 of v's JSON encoding, as produced by
// encoding/json (struct fields in declaration order, map keys sorted). Equal values
// of one Go type always have equal digests, so a digest in an audit record can be
// checked against the value it claims to describe.
func Digest(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return DigestBytes(b), nil
}

// DigestBytes returns "sha256:" and the hex SHA-256 of b.
func DigestBytes(b []byte) string {
	sum := sha256.Sum256(b)
	var out [len(DigestPrefix) + 2*sha256.Size]byte
	copy(out[:], DigestPrefix)
	hex.Encode(out[len(DigestPrefix):], sum[:])
	return string(out[:])
}
