package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/modelguard/modelguard/identity"
)

// FuzzRotateSet runs arbitrary JWK Set files through the parse, retire and
// encode steps of keys rotate: no panic, and whatever is written is a set
// identity accepts, holding no key whose mark has passed.
func FuzzRotateSet(f *testing.F) {
	key, err := identity.GenerateKey("EdDSA", "k1")
	if err != nil {
		f.Fatal(err)
	}
	pub, _ := json.Marshal(key.Public())
	f.Add([]byte(`{"keys":[` + string(pub) + `]}`))
	f.Add([]byte(`{"keys":[` + string(pub[:len(pub)-1]) + `,"mg_retire_after":"2025-01-01T00:00:00Z"}]}`))
	f.Add([]byte(`{"keys":[` + string(pub[:len(pub)-1]) + `,"mg_retire_after":7}]}`))
	f.Add([]byte(`{"keys":[]}`))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := parseSet(data)
		if err != nil {
			return
		}
		kept, _ := retire(keys, now, now.Add(time.Hour))
		if len(kept) == 0 {
			return
		}
		out, err := encodeSet(kept)
		if err != nil {
			return
		}
		var doc struct {
			Keys []map[string]any `json:"keys"`
		}
		if err := json.Unmarshal(out, &doc); err != nil {
			t.Fatal(err)
		}
		for _, k := range doc.Keys {
			if s, ok := k[retireMember].(string); ok {
				if m, err := time.Parse(time.RFC3339, s); err == nil && !m.After(now) {
					t.Fatalf("kept a retired key: %v", k)
				}
			}
		}
	})
}
