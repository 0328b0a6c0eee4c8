package access

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/modelguard/modelguard/identity"
)

// MaxClaimsSize bounds the input of [ParseClaims].
const MaxClaimsSize = 64 << 10

// ParseClaims reads the identity to analyse: a JSON object of claims ({"sub":
// ..., "agent": ..., "scope": "a b"}) or a compact JWS token, whose payload is
// decoded WITHOUT verifying its signature — an analysis asks what the claims
// would be allowed, it authenticates nobody. Claims of the wrong type are an
// error wrapping [ErrInput], as is input over [MaxClaimsSize].
func ParseClaims(data []byte) (*identity.Claims, error) {
	data = bytes.TrimSpace(data)
	if len(data) > MaxClaimsSize {
		return nil, fmt.Errorf("%w: claims are %d bytes, over the %d byte limit", ErrInput, len(data), MaxClaimsSize)
	}
	if len(data) > 0 && data[0] != '{' {
		payload, err := jwsPayload(data)
		if err != nil {
			return nil, err
		}
		data = payload
	}
	var raw map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: claims: %v", ErrInput, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: claims: data after the JSON object", ErrInput)
	}
	if raw == nil {
		return nil, fmt.Errorf("%w: claims: want a JSON object", ErrInput)
	}
	c, err := identity.UnsafeClaimsFromMap(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: claims: %w", ErrInput, err)
	}
	return c, nil
}

// jwsPayload returns the decoded payload of a compact JWS (RFC 7515 §7.1:
// header.payload.signature, each base64url without padding).
func jwsPayload(tok []byte) ([]byte, error) {
	parts := bytes.Split(tok, []byte("."))
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: neither a JSON object of claims nor a compact JWS", ErrInput)
	}
	out := make([]byte, base64.RawURLEncoding.DecodedLen(len(parts[1])))
	n, err := base64.RawURLEncoding.Decode(out, parts[1])
	if err != nil {
		return nil, fmt.Errorf("%w: token payload: %v", ErrInput, err)
	}
	return out[:n], nil
}
