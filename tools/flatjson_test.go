package tools

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

type (
	flatA struct {
		ID    string `json:"id"`
		Note  string `json:"note,omitempty"`
		N     int64  `json:"n"`
		M     int8   `json:"m,omitempty"`
		U     uint32 `json:"u"`
		B     bool   `json:"b,omitempty"`
		Plain string
		skip  string
		Dash  string `json:"-"`
		//lint:ignore SA5008 the member named "-" is the case under test
		Minus string `json:"-,"`
	}
	flatName string
	flatB    struct {
		Name flatName `json:"name"`
		Up   uintptr  `json:"up"`
		On   bool     `json:"on"`
	}
	flatEmpty struct{}
)

type textName string

func (textName) MarshalText() ([]byte, error) { return []byte("x"), nil }

// TestFlatJSONTypes: the types flatJSON takes, and the ones it leaves to
// encoding/json because it would not reproduce them.
func TestFlatJSONTypes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		t    reflect.Type
		flat bool
	}{
		{reflect.TypeFor[flatA](), true},
		{reflect.TypeFor[flatB](), true},
		{reflect.TypeFor[flatEmpty](), true},
		{reflect.TypeFor[*flatA](), false},
		{reflect.TypeFor[struct{ F float64 }](), false},
		{reflect.TypeFor[struct{ T time.Time }](), false},
		{reflect.TypeFor[struct{ N textName }](), false},
		{reflect.TypeFor[struct {
			N int `json:"n,string"`
		}](), false},
		{reflect.TypeFor[struct {
			A string `json:"B"`
			B string
		}](), false},
		{reflect.TypeFor[struct {
			A string `json:"a b"`
		}](), false},
		{reflect.TypeFor[struct{ flatB }](), false},
		{reflect.TypeFor[struct{ L []string }](), false},
		{reflect.TypeFor[struct {
			N int `json:"n,omitzero"`
		}](), false},
	} {
		if got := newFlatJSON(tc.t) != nil; got != tc.flat {
			t.Errorf("%v: flat %v, want %v", tc.t, got, tc.flat)
		}
	}
}

// FuzzFlatJSON holds flatJSON to encoding/json: the same bytes for any
// strings (HTML characters, controls, U+2028, invalid UTF-8) and numbers.
func FuzzFlatJSON(f *testing.F) {
	f.Add("T-1", "", int64(0), int8(0), uint32(0), false, "x", "<a&b>", "\u2028\"\\\x00\xff")
	f.Add("", "note", int64(-1<<63), int8(-128), uint32(1<<32-1), true, "", "é", "")
	fa, fb := newFlatJSON(reflect.TypeFor[flatA]()), newFlatJSON(reflect.TypeFor[flatB]())
	f.Fuzz(func(t *testing.T, id, note string, n int64, m int8, u uint32, b bool, plain, minus, name string) {
		check := func(f *flatJSON, v any) {
			want, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			got := f.append(nil, reflect.ValueOf(v))
			if !bytes.Equal(got, want) {
				t.Fatalf("%#v:\nflat %s\njson %s", v, got, want)
			}
		}
		check(fa, flatA{ID: id, Note: note, N: n, M: m, U: u, B: b, Plain: plain, skip: id, Dash: note, Minus: minus})
		check(fb, flatB{Name: flatName(name), Up: uintptr(u), On: b})
	})
}
