package tools

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// Struct shapes where encoding/json's field rules are subtle: ties at one
// depth, tags breaking ties, shallower fields shadowing, tagged embedded
// structs, pointers, unexported embedded structs, invalid tag names, a type
// embedded twice.
type (
	sfLeafA  struct{ X, A int }
	sfLeafB  struct{ X, B int }
	sfTagged struct {
		X int `json:"X"`
		C int
	}
	sfInner  struct{ sfLeafA }
	sfhidden struct{ H int }
	//lint:ignore U1000 embedded in sfEmbInt, the case under test
	sfMyInt int

	sfTie struct {
		sfLeafA
		sfLeafB
	} // X tied: dropped
	sfTagWins struct {
		sfLeafA
		sfTagged
	} // tagged X wins
	sfShallow struct {
		sfInner
		sfLeafB
	} // sfLeafB.X (depth 2) beats sfInner.sfLeafA.X (3)
	sfOwnWins struct {
		X int
		sfLeafA
	} // own X shadows
	sfNamedEmb struct {
		sfLeafA `json:"a"`
		Y       int
	} // one member "a", not promoted
	sfPtrEmb struct {
		*sfLeafA
		Z int
	} // promoted through a pointer
	sfUnexpEmb struct {
		sfhidden
		W int
	} // exported fields of an unexported embed promoted
	sfEmbInt struct {
		//lint:ignore U1000 an unexported non-struct embed is the case under test
		sfMyInt
		V int
	} // unexported non-struct embed skipped
	sfBadTag struct {
		//lint:ignore SA5008 a tag name encoding/json refuses is the case under test
		Q int `json:"q\"x"`
		R int `json:"r!"`
	} // invalid tag name: Go name used
	sfDash struct {
		D int `json:"-"`
		//lint:ignore SA5008 the member named "-" is the case under test
		E int `json:"-,"`
	}
	sfTwice struct {
		sfInner
		sfInnerToo
	} // sfLeafA twice at depth 2: all its fields dropped
	sfInnerToo struct{ sfLeafA }
	sfDeepTie  struct {
		sfInner
		sfLeafB2
	} // X: depth 3 vs depth 3
	sfLeafB2    struct{ sfLeafBWrap }
	sfLeafBWrap struct{ sfLeafB }
)

// TestJSONFieldsMatchEncodingJSON: for every shape above and every candidate
// name, the strict check lets {"name": 7} through exactly when encoding/json
// stores 7 in the member of that name (read back with json.Marshal, which
// resolves names by the same rules): no member is both allowed and dropped.
// Where the decoder itself fails (an embedded pointer to an unexported
// struct), the call is refused whatever the check says.
func TestJSONFieldsMatchEncodingJSON(t *testing.T) {
	shapes := []any{sfTie{}, sfTagWins{}, sfShallow{}, sfOwnWins{}, sfNamedEmb{}, sfPtrEmb{}, sfUnexpEmb{},
		sfEmbInt{}, sfBadTag{}, sfDash{}, sfTwice{}, sfDeepTie{}, sfLeafA{}}
	names := []string{"X", "A", "B", "C", "a", "Y", "Z", "H", "W", "V", "sfMyInt", "Q", "R", "q\"x", "r!",
		"D", "E", "-", "sfLeafA", "sfhidden", "x"}
	for _, shape := range shapes {
		typ := reflect.TypeOf(shape)
		for _, n := range names {
			nb, _ := json.Marshal(n)
			val := "7"
			if n == "a" && typ == reflect.TypeOf(sfNamedEmb{}) {
				val = `{"X":7,"A":0}`
			}
			args := []byte("{" + string(nb) + ":" + val + "}")
			allowed := checkStrict(args, typ) == nil
			v := reflect.New(typ)
			if err := json.Unmarshal(args, v.Interface()); err != nil {
				continue // the decoder refuses it: denied either way
			}
			out, _ := json.Marshal(v.Elem().Interface())
			var m map[string]json.RawMessage
			_ = json.Unmarshal(out, &m)
			stored := strings.TrimSpace(string(m[n])) == val
			if allowed != stored {
				t.Errorf("%s: member %q allowed=%v, encoding/json stores it=%v", typ.Name(), n, allowed, stored)
			}
		}
	}
}

// TestStrictQuotedAndMapKeys: a ",string" field's inner text is checked as
// arguments of its own, and map members that name one key are duplicates.
func TestStrictQuotedAndMapKeys(t *testing.T) {
	type quoted struct {
		S string  `json:"s,string"`
		F float64 `json:"f,string"`
		I int     `json:"i,string"`
	}
	qt := reflect.TypeFor[quoted]()
	for _, tt := range []struct {
		args string
		ok   bool
	}{
		{`{"s":"\"abc\""}`, true},
		{`{"s":"\"\\ud800\""}`, false},       // lone surrogate inside the quoted text
		{`{"s":"\"\\ud83d\\ude00\""}`, true}, // a pair is fine
		{`{"f":"9007199254740993"}`, false},  // no float64 holds it
		{`{"f":"1.5"}`, true},
		{`{"i":"9007199254740993"}`, true}, // an int holds it exactly
	} {
		if err := checkStrict([]byte(tt.args), qt); (err == nil) != tt.ok {
			t.Errorf("%s: err=%v, want ok=%v", tt.args, err, tt.ok)
		}
	}
	mt := reflect.TypeFor[map[int]string]()
	ut := reflect.TypeFor[map[uint8]string]()
	for _, tt := range []struct {
		typ  reflect.Type
		args string
		ok   bool
	}{
		{mt, `{"1":"a","01":"b"}`, false},
		{mt, `{"1":"a","+1":"b"}`, false},
		{mt, `{"1":"a","2":"b"}`, true},
		{mt, `{"-0":"a","0":"b"}`, false},
		{ut, `{"7":"a","007":"b"}`, false},
		{reflect.TypeFor[map[string]string](), `{"1":"a","01":"b"}`, true},
	} {
		if err := checkStrict([]byte(tt.args), tt.typ); (err == nil) != tt.ok {
			t.Errorf("%v %s: err=%v, want ok=%v", tt.typ, tt.args, err, tt.ok)
		}
	}
}

// sfOddKey is a map key whose UnmarshalText leaves an uncomparable value in
// it: the strict check must not panic hashing it.
type sfOddKey struct{ V any }

func (k *sfOddKey) UnmarshalText(b []byte) error { k.V = []byte(b); return nil }

func TestStrictUncomparableKey(t *testing.T) {
	if err := checkStrict([]byte(`{"a":1,"b":2}`), reflect.TypeFor[map[sfOddKey]int]()); err != nil {
		t.Fatalf("distinct keys refused: %v", err)
	}
	if err := checkStrict([]byte(`{"a":1,"a":2}`), reflect.TypeFor[map[sfOddKey]int]()); err == nil {
		t.Fatal("duplicate member accepted")
	}
}
