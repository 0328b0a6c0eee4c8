package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/modelguard/modelguard/identity"
)

// maxSetFile bounds a JWK Set file, as identity.ParseKeySet does.
const maxSetFile = 1 << 20

// readSet reads a JWK Set file as raw key objects, so that members identity
// does not know (such as the retirement mark) survive a rewrite. The set must
// pass identity.ParseKeySet.
func readSet(path string) ([]map[string]json.RawMessage, error) {
	data, err := readLimited(path, maxSetFile)
	if err != nil {
		return nil, fmt.Errorf("-set: %w", err)
	}
	keys, err := parseSet(data)
	if err != nil {
		return nil, fmt.Errorf("-set %s: %w", path, err)
	}
	return keys, nil
}

// parseSet checks data with identity.ParseKeySet and returns its keys as raw
// JSON objects.
func parseSet(data []byte) ([]map[string]json.RawMessage, error) {
	if _, err := identity.ParseKeySet(data); err != nil {
		return nil, err
	}
	var doc struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	return doc.Keys, nil
}

// retire drops the keys whose mark is at or before now, marks the unmarked
// ones to retire at until, and returns the keys kept (as JSON) with a report.
func retire(keys []map[string]json.RawMessage, now, until time.Time) ([]json.RawMessage, string) {
	var kept []json.RawMessage
	var report strings.Builder
	for _, k := range keys {
		var kid string
		json.Unmarshal(k["kid"], &kid) // readSet checked it is a string
		var mark time.Time
		if raw, ok := k[retireMember]; ok && json.Unmarshal(raw, &mark) == nil && !mark.After(now) {
			fmt.Fprintf(&report, "removed kid %s (retired after %s)\n", kid, mark.Format(time.RFC3339))
			continue
		}
		if _, ok := k[retireMember]; !ok {
			k[retireMember], _ = json.Marshal(until.Format(time.RFC3339))
			fmt.Fprintf(&report, "kid %s: retire after %s\n", kid, until.Format(time.RFC3339))
		}
		b, _ := json.Marshal(k)
		kept = append(kept, b)
	}
	return kept, report.String()
}

// encodeSet writes keys as an indented JWK Set document and checks that
// identity accepts it.
func encodeSet(keys []json.RawMessage) ([]byte, error) {
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		return nil, err
	}
	if _, err := identity.ParseKeySet(b); err != nil {
		return nil, err
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		return nil, err
	}
	return append(out.Bytes(), '\n'), nil
}

// replaceFile writes data to a temporary file beside path and renames it
// over path, so readers see the old set or the new one, never a mix.
func replaceFile(path string, data []byte, perm fs.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
