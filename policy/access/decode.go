package access

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/modelguard/modelguard/audit"
)

// Reading a log for analysis decodes only the fields the analysis uses, with a
// scanner made for the records a log writes (canonical JSON, as
// audit.MarshalRecord produces). Anything it is not sure of (an escape in a
// key, a key that differs from a field's only by case, a syntax error, a
// depth over maxDepth) falls back to encoding/json for the whole record, so
// the result is what encoding/json decodes (FuzzDecode holds it to that). It
// does not type-check the fields it does not read: `audit verify` checks the
// log; an analysis reads it.

const (
	maxRecord = 16 << 20 // as the audit package
	maxDepth  = 512
)

// eachEvent calls fn with every complete record of the log, decoded.
func eachEvent(log *audit.Log, fn func(*audit.Event) error) error {
	segs := log.Segments()
	if len(segs) == 0 {
		return fmt.Errorf("access: %w", audit.ErrNotReady)
	}
	var e audit.Event
	for i, path := range segs {
		err := eachLine(path, i == len(segs)-1, func(rec []byte, off int64) error {
			e = audit.Event{}
			if !decodeFast(rec, &e) {
				if err := json.Unmarshal(rec, &e); err != nil {
					return fmt.Errorf("%w: %s offset %d: %v", audit.ErrCorrupt, filepath.Base(path), off, err)
				}
			}
			return fn(&e)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// eachLine calls fn with every newline-terminated line of the file; an
// unterminated last line is torn and skipped. A missing active file is empty.
func eachLine(path string, active bool, fn func(rec []byte, off int64) error) error {
	f, err := os.Open(path)
	if active && errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var long []byte
	var off int64
	for {
		line, err := r.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			if long = append(long, line...); len(long) > maxRecord {
				return fmt.Errorf("%w: %s: a line over %d bytes", audit.ErrCorrupt, filepath.Base(path), maxRecord)
			}
			continue
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if long != nil {
			line, long = append(long, line...), nil
		}
		if err := fn(line[:len(line)-1], off); err != nil {
			return err
		}
		off += int64(len(line))
	}
}

// scan is a cursor over one record.
type scan struct {
	b   []byte
	i   int
	bad bool
}

// decodeFast decodes the fields of rec the analysis uses into e, reporting
// false when it cannot be sure to decode as encoding/json does.
func decodeFast(rec []byte, e *audit.Event) bool {
	s := &scan{b: rec}
	s.object(func(key []byte) bool {
		switch string(key) {
		case "time":
			tok := s.rawString()
			return !s.bad && e.Time.UnmarshalJSON(tok) == nil
		case "phase":
			if !s.null() {
				e.Phase = audit.Phase(s.str())
			}
		case "gen_ai.tool.name":
			s.strInto(&e.Tool)
		case "decision":
			s.strInto(&e.Decision)
		case "code":
			s.strInto(&e.Code)
		case "policy.version":
			s.strInto(&e.PolicyVersion)
		case "rules":
			e.Rules = s.strs()
		case "controls":
			e.Controls = s.strs()
		case "shadow.would_flip":
			if !s.null() {
				e.WouldFlip = s.boolean()
			}
		case "args":
			start := s.i
			s.value(0)
			if raw := s.b[start:s.i]; !s.bad {
				e.Args = append(json.RawMessage(nil), raw...)
			}
		case "grant":
			e.Grant = s.grant(e.Grant)
		case "identity":
			s.identity(&e.Identity)
		default:
			return s.other(key, eventKeys)
		}
		return !s.bad
	})
	s.ws()
	return !s.bad && s.i == len(s.b)
}

// The JSON keys of the structs decoded; a key equal to one of them but for
// case must go to encoding/json, which matches keys case-insensitively.
var (
	eventKeys    = jsonKeys(audit.Event{})
	identityKeys = jsonKeys(audit.Identity{})
	grantKeys    = jsonKeys(audit.GrantUse{})
)

// other skips the value of a key the analysis does not read. A key that is
// not exactly one of known but may fold to one (encoding/json matches keys
// case-insensitively, with Unicode folding) gives up.
func (s *scan) other(key []byte, known keySet) bool {
	if !known.exact[string(key)] {
		for _, c := range key {
			if c >= 0x80 {
				return false
			}
		}
		if known.folded[strings.ToLower(string(key))] {
			return false
		}
	}
	s.value(0)
	return !s.bad
}

type keySet struct{ exact, folded map[string]bool }

func (s *scan) identity(id *audit.Identity) {
	if s.null() {
		return
	}
	s.object(func(key []byte) bool {
		switch string(key) {
		case "iss":
			s.strInto(&id.Issuer)
		case "sub":
			s.strInto(&id.Subject)
		case "jti":
			s.strInto(&id.TokenID)
		case "gen_ai.agent.id":
			s.strInto(&id.Agent)
		case "tenant":
			s.strInto(&id.Tenant)
		case "env":
			s.strInto(&id.Env)
		case "gen_ai.provider.name":
			s.strInto(&id.ModelProvider)
		case "gen_ai.request.model":
			s.strInto(&id.ModelName)
		case "model.version":
			s.strInto(&id.ModelVersion)
		case "scopes":
			id.Scopes = s.strs()
		case "act":
			id.Act = s.strs()
		default:
			return s.other(key, identityKeys)
		}
		return !s.bad
	})
}

// grant reads a grant into g (a repeated key fills the same grant, as
// encoding/json does), or nil for null.
func (s *scan) grant(g *audit.GrantUse) *audit.GrantUse {
	if s.null() {
		return nil
	}
	if g == nil {
		g = &audit.GrantUse{}
	}
	s.object(func(key []byte) bool {
		switch string(key) {
		case "jti":
			s.strInto(&g.ID)
		case "approver":
			s.strInto(&g.Approver)
		case "request":
			s.strInto(&g.Request)
		default:
			return s.other(key, grantKeys)
		}
		return !s.bad
	})
	return g
}

func (s *scan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scan) peek() byte {
	s.ws()
	if s.i >= len(s.b) {
		s.bad = true
		return 0
	}
	return s.b[s.i]
}

func (s *scan) expect(c byte) {
	if s.peek() != c {
		s.bad = true
		return
	}
	s.i++
}

// object reads an object, calling field after each key with the cursor on its
// value; field returns false to give up.
func (s *scan) object(field func(key []byte) bool) {
	s.expect('{')
	if s.bad {
		return
	}
	if s.peek() == '}' {
		s.i++
		return
	}
	for !s.bad {
		if s.peek() != '"' {
			s.bad = true
			return
		}
		key, ok := s.plainBytes()
		if !ok {
			s.bad = true // an escaped key: leave it to encoding/json
			return
		}
		s.expect(':')
		if s.bad || !field(key) {
			s.bad = true
			return
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return
		default:
			s.bad = true
		}
	}
}

// plain reads a string without escapes or control characters, in valid
// UTF-8: exactly its bytes.
func (s *scan) plain() (string, bool) {
	v, ok := s.plainBytes()
	return string(v), ok
}

func (s *scan) plainBytes() ([]byte, bool) {
	start, ascii := s.i+1, true
	for j := start; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			s.i = j + 1
			v := s.b[start:j]
			return v, ascii || utf8.Valid(v)
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= 0x80:
			ascii = false
		}
	}
	return nil, false
}

// rawString returns the whole token of a string, quotes included.
func (s *scan) rawString() []byte {
	if s.peek() != '"' {
		s.bad = true
		return nil
	}
	start := s.i
	s.skipString()
	return s.b[start:s.i]
}

// strInto reads a string into p; null leaves p as it is, as encoding/json does.
func (s *scan) strInto(p *string) {
	if !s.null() {
		*p = s.str()
	}
}

// str reads a string; null reads as empty.
func (s *scan) str() string {
	if s.null() {
		return ""
	}
	if s.peek() != '"' {
		s.bad = true
		return ""
	}
	start := s.i
	if v, ok := s.plain(); ok {
		return v
	}
	s.i = start
	s.skipString()
	var v string
	if s.bad || json.Unmarshal(s.b[start:s.i], &v) != nil {
		s.bad = true
	}
	return v
}

func (s *scan) strs() []string {
	if s.null() {
		return nil
	}
	s.expect('[')
	out := []string{}
	if s.peek() == ']' {
		s.i++
		return out
	}
	for !s.bad {
		out = append(out, s.str())
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return out
		default:
			s.bad = true
		}
	}
	return nil
}

func (s *scan) boolean() bool {
	switch {
	case s.lit("true"):
		return true
	case s.lit("false"):
		return false
	}
	s.bad = true
	return false
}

func (s *scan) null() bool { return s.lit("null") }

func (s *scan) lit(w string) bool {
	s.ws()
	if bytes.HasPrefix(s.b[s.i:], []byte(w)) {
		s.i += len(w)
		return true
	}
	return false
}

// value skips one JSON value, checking its syntax.
func (s *scan) value(depth int) {
	if depth > maxDepth {
		s.bad = true
		return
	}
	switch c := s.peek(); {
	case s.bad:
	case c == '"':
		s.skipString()
	case c == '{':
		s.object(func([]byte) bool { s.value(depth + 1); return !s.bad })
	case c == '[':
		s.i++
		if s.peek() == ']' {
			s.i++
			return
		}
		for !s.bad {
			s.value(depth + 1)
			switch s.peek() {
			case ',':
				s.i++
			case ']':
				s.i++
				return
			default:
				s.bad = true
			}
		}
	case c == '-' || ('0' <= c && c <= '9'):
		s.number()
	case s.lit("true"), s.lit("false"), s.lit("null"):
	default:
		s.bad = true
	}
}

// skipString skips a string token, checking its escapes and UTF-8 loosely
// (encoding/json replaces invalid UTF-8; it does not reject it).
func (s *scan) skipString() {
	for j := s.i + 1; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			s.i = j + 1
			return
		case c < 0x20:
			s.bad = true
			return
		case c == '\\':
			j++
			if j >= len(s.b) {
				s.bad = true
				return
			}
			switch s.b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(s.b) || !isHex(s.b[j+1:j+5]) {
					s.bad = true
					return
				}
				j += 4
			default:
				s.bad = true
				return
			}
		}
	}
	s.bad = true
}

func isHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// number skips a number in the JSON grammar (RFC 8259 §6).
func (s *scan) number() {
	b, i := s.b, s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	default:
		s.bad = true
		return
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			s.bad = true
			return
		}
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			s.bad = true
			return
		}
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	}
	s.i = i
}

// jsonKeys lists the JSON names of a struct's fields, and their lower case.
func jsonKeys(v any) keySet {
	t := reflect.TypeOf(v)
	ks := keySet{exact: map[string]bool{}, folded: map[string]bool{}}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" {
			name = t.Field(i).Name
		}
		ks.exact[name] = true
		ks.folded[strings.ToLower(name)] = true
	}
	return ks
}
