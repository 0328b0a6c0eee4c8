package ocsf_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/modelguard/modelguard/audit"
	"github.com/modelguard/modelguard/audit/ocsf"
)

// schema is what OCSF 1.8.0 requires of an API Activity event, extracted from
// the schema's own files (see testdata/api_activity-1.8.0.json, "source").
type schema struct {
	ClassUID      int               `json:"class_uid"`
	CategoryUID   int               `json:"category_uid"`
	EventRequired []string          `json:"event_required"`
	AttrObjects   map[string]string `json:"attribute_objects"`
	Objects       map[string]struct {
		Required    []string `json:"required"`
		Constraints struct {
			AtLeastOne []string `json:"at_least_one"`
		} `json:"constraints"`
	} `json:"objects"`
	Enums map[string][]int `json:"enums"`
}

func loadSchema(t testing.TB) schema {
	b, err := os.ReadFile("testdata/api_activity-1.8.0.json")
	if err != nil {
		t.Fatal(err)
	}
	var s schema
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// validate checks one exported line against the schema's requirements.
func (s schema) validate(line []byte) []string {
	var ev map[string]any
	if err := json.Unmarshal(line, &ev); err != nil {
		return []string{err.Error()}
	}
	var bad []string
	for _, k := range s.EventRequired {
		if _, ok := ev[k]; !ok {
			bad = append(bad, "missing required "+k)
		}
	}
	num := func(k string) int { f, _ := ev[k].(float64); return int(f) }
	if num("class_uid") != s.ClassUID || num("category_uid") != s.CategoryUID {
		bad = append(bad, fmt.Sprintf("class %d category %d", num("class_uid"), num("category_uid")))
	}
	if num("type_uid") != num("class_uid")*100+num("activity_id") {
		bad = append(bad, "type_uid is not class_uid*100+activity_id")
	}
	for k, allowed := range s.Enums {
		if _, ok := ev[k]; ok && !slices.Contains(allowed, num(k)) {
			bad = append(bad, fmt.Sprintf("%s=%d not in the enum", k, num(k)))
		}
	}
	if _, ok := ev["time"].(float64); !ok {
		bad = append(bad, "time is not a timestamp_t (ms)")
	}
	return append(bad, s.objects("", ev)...)
}

// objects checks every object attribute of o that the schema maps to an object.
func (s schema) objects(path string, o map[string]any) []string {
	var bad []string
	for k, v := range o {
		sub, ok := v.(map[string]any)
		name, known := s.AttrObjects[k]
		if !ok || !known {
			continue
		}
		def := s.Objects[name]
		for _, r := range def.Required {
			if _, ok := sub[r]; !ok {
				bad = append(bad, fmt.Sprintf("%s%s (%s): missing required %s", path, k, name, r))
			}
		}
		if alo := def.Constraints.AtLeastOne; len(alo) > 0 && !slices.ContainsFunc(alo, func(a string) bool { _, ok := sub[a]; return ok }) {
			bad = append(bad, fmt.Sprintf("%s%s (%s): needs at least one of %v", path, k, name, alo))
		}
		bad = append(bad, s.objects(path+k+".", sub)...)
	}
	return bad
}

func exportLog(t *testing.T, path string, opts ocsf.Options) [][]byte {
	t.Helper()
	log, err := audit.OpenLog(path)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	n, err := ocsf.Export(&out, log, opts)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(out.Bytes(), []byte("\n")), []byte("\n"))
	if n != len(lines) {
		t.Fatalf("Export says %d, wrote %d lines", n, len(lines))
	}
	return lines
}

func TestExportExamples(t *testing.T) {
	t.Parallel()
	s := loadSchema(t)
	for _, name := range []string{"finance", "support"} {
		path := filepath.Join("..", "..", "policy", "access", "testdata", "modelguard-"+name+"-audit.jsonl")
		log, _ := audit.OpenLog(path)
		signed, err := log.Checkpoint()
		if err != nil {
			t.Fatal(err)
		}
		cp, err := audit.UnsafeParseSignedCheckpoint(signed)
		if err != nil {
			cp, err = audit.ParseCheckpoint(signed)
		}
		if err != nil {
			t.Fatal(err)
		}
		lines := exportLog(t, path, ocsf.Options{Checkpoint: &cp})
		var leaves []tlog.Hash
		for i, line := range lines {
			if bad := s.validate(line); len(bad) > 0 {
				t.Errorf("%s line %d: %s\n%s", name, i+1, strings.Join(bad, "; "), line)
			}
			var ev ocsf.Event
			if err := json.Unmarshal(line, &ev); err != nil {
				t.Fatal(err)
			}
			m := ev.Unmapped.Modelguard.Merkle
			h, _ := base64.StdEncoding.DecodeString(m.LeafHash)
			if m.LeafIndex != uint64(i) || len(h) != tlog.HashSize || m.Checkpoint == nil || !m.Checkpoint.Covered {
				t.Fatalf("%s line %d: merkle %+v", name, i+1, m)
			}
			leaves = append(leaves, tlog.Hash(h))
		}
		// The leaves rebuild the checkpoint's root: the integrity data is the log's.
		if root := treeHash(t, leaves); root != cp.Hash || int64(len(leaves)) != cp.Size {
			t.Errorf("%s: leaves give root %v over %d, checkpoint says %v over %d", name, root, len(leaves), cp.Hash, cp.Size)
		}
	}
}

func treeHash(t *testing.T, leaves []tlog.Hash) tlog.Hash {
	var stored []tlog.Hash
	r := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = stored[x]
		}
		return out, nil
	})
	for i, l := range leaves {
		hs, err := tlog.StoredHashesForRecordHash(int64(i), l, r)
		if err != nil {
			t.Fatal(err)
		}
		stored = append(stored, hs...)
	}
	h, err := tlog.TreeHash(int64(len(leaves)), r)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Records of every phase and shape, with hostile strings, stay valid events.
func TestExportShapes(t *testing.T) {
	t.Parallel()
	s := loadSchema(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "a.jsonl")
	f, err := audit.OpenFile(path, audit.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	evil := "</script><b>\u202e\x1b[31m"
	for i, e := range []audit.Event{
		{Phase: audit.PhaseDecision, Tool: "payments.initiate", Decision: audit.Deny, Code: "unauthenticated"},
		{Phase: audit.PhasePolicy, Decision: audit.Allow, PolicyVersion: "sha256:00"},
		{Phase: audit.PhaseKill, Decision: audit.Deny, Code: "kill_activated", Reasons: []string{evil}},
		{Phase: audit.PhaseDecision, Tool: evil, Decision: audit.Allow, Rules: []string{"r"}, CallID: "c", SessionID: "s", PromptID: "p",
			Identity: audit.Identity{Subject: evil, Agent: evil, ModelProvider: "anthropic", ModelName: "claude", Scopes: []string{"a"}}},
		{Phase: audit.PhaseOutcome, Tool: "x", Decision: audit.Allow, Outcome: audit.OutcomePanic, Error: evil, Duration: time.Second,
			Identity: audit.Identity{ModelName: "only-a-name"}},
	} {
		e.ID, e.Time = fmt.Sprint(i), at
		if err := f.Record(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	lines := exportLog(t, path, ocsf.Options{})
	if len(lines) != 5 {
		t.Fatalf("%d lines", len(lines))
	}
	for i, line := range lines {
		if bad := s.validate(line); len(bad) > 0 {
			t.Errorf("line %d: %s\n%s", i+1, strings.Join(bad, "; "), line)
		}
	}
	var ev ocsf.Event
	json.Unmarshal(lines[3], &ev)
	if ev.AIModel == nil || ev.AIModel.AIProvider != "anthropic" || ev.Actor.User.UID != evil || ev.API.Operation != evil || ev.ActionID != 1 {
		t.Errorf("mapping: %+v", ev)
	}
	ev = ocsf.Event{}
	json.Unmarshal(lines[4], &ev)
	if ev.AIModel != nil || ev.StatusID != 2 || ev.Duration != 1000 {
		t.Errorf("outcome: ai_model %+v status %d duration %d", ev.AIModel, ev.StatusID, ev.Duration)
	}
}

func TestExportTornAndCorrupt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "a.jsonl")
	rec, _ := audit.MarshalRecord(audit.Event{ID: "1", Phase: audit.PhaseDecision, Decision: audit.Allow, Tool: "t"}, 1)
	os.WriteFile(path, append(append(rec, '\n'), `{"seq":2,"id":"torn`...), 0o600)
	if lines := exportLog(t, path, ocsf.Options{}); len(lines) != 1 {
		t.Errorf("torn line exported: %d lines", len(lines))
	}
	os.WriteFile(path, []byte("not json\n"), 0o600)
	log, _ := audit.OpenLog(path)
	if _, err := ocsf.Export(&bytes.Buffer{}, log, ocsf.Options{}); !errors.Is(err, ocsf.ErrRecord) {
		t.Errorf("corrupt line: %v", err)
	}
	if _, err := ocsf.Export(&bytes.Buffer{}, nil, ocsf.Options{}); err == nil {
		t.Error("nil log: no error")
	}
}

func FuzzConvert(f *testing.F) {
	s := loadSchema(f)
	for _, name := range []string{"finance", "support"} {
		b, _ := os.ReadFile(filepath.Join("..", "..", "policy", "access", "testdata", "modelguard-"+name+"-audit.jsonl"))
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			f.Add(slices.Clone(sc.Bytes()))
		}
	}
	f.Add([]byte(`{"seq":1,"id":"","time":"0001-01-01T00:00:00Z","phase":"","decision":"","identity":{}}`))
	f.Fuzz(func(t *testing.T, rec []byte) {
		ev, err := ocsf.Convert(rec, ocsf.Options{})
		if err != nil {
			if !errors.Is(err, ocsf.ErrRecord) {
				t.Fatalf("error %v does not wrap ErrRecord", err)
			}
			return
		}
		line, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if bad := s.validate(line); len(bad) > 0 {
			t.Fatalf("%s\n%s", strings.Join(bad, "; "), line)
		}
	})
}
