package tools

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/modelguard/modelguard/audit"
)

// The arguments snapshot. A call's arguments are fixed once, at its start, and
// the digest, the policy's input and the tool's input all come from that one
// snapshot, so what is decided is what runs and what is recorded.
//
// A Go caller that shares a map, a slice or a pointed-to value with the
// arguments could otherwise change them between the digest and the decision
// (the record shows arguments that were never decided) or after it (policy
// allowed to=alice, the tool runs with to=mallory). So each input type takes
// one of three paths, decided once at NewGuard by [argsPathOf]:
//
//   - pathValue: nothing reachable from the type refers to shared memory (no
//     map, slice, pointer, interface, chan or func, in exported fields or not;
//     time.Time counts as a value). The copy of the value Call receives is
//     already private to the call: it is digested and used as is.
//   - pathIsolate: the type holds references. The arguments are encoded once
//     (the canonical bytes), and a fresh value decoded from those bytes is what
//     policy and the tool get: nothing the caller holds refers into it.
//   - pathNormalize: the type holds an interface or a type with its own JSON or
//     text (un)marshaling, whose decoding need not reproduce the encoding (a
//     number in an any becomes a float64, a struct in an any a map). The fresh
//     value is encoded once more and those bytes are the canonical ones, so the
//     digest is the digest of exactly the value that is decided and run. Bytes
//     that custom marshalers wrote are held to the strict JSON rules
//     ([checkStrict]): no duplicate or inexact member names.
type argsPath uint8

const (
	pathValue argsPath = iota
	pathIsolate
	pathNormalize
)

func (p argsPath) String() string {
	return [...]string{"value", "isolate", "normalize"}[p]
}

// argsShape is what NewGuard decides about an input type.
type argsShape struct {
	path   argsPath
	custom bool // a custom marshaler is reachable: its bytes are checked strictly
}

var (
	timeType            = reflect.TypeFor[time.Time]()
	jsonMarshalerType   = reflect.TypeFor[json.Marshaler]()
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textMarshalerType   = reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// argsPathOf decides the snapshot path of input type t.
func argsPathOf(t reflect.Type) argsShape {
	var refs, dynamic, custom bool
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		if seen[t] {
			return
		}
		seen[t] = true
		if t == timeType {
			return // a value: its *Location is immutable
		}
		pt := reflect.PointerTo(t)
		for _, m := range []reflect.Type{jsonMarshalerType, jsonUnmarshalerType, textMarshalerType, textUnmarshalerType} {
			if t.Implements(m) || pt.Implements(m) {
				custom = true
			}
		}
		switch t.Kind() {
		case reflect.Interface:
			refs, dynamic = true, true
		case reflect.Map:
			refs = true
			walk(t.Key())
			walk(t.Elem())
		case reflect.Slice, reflect.Pointer:
			refs = true
			walk(t.Elem())
		case reflect.Chan, reflect.Func, reflect.UnsafePointer:
			refs = true
		case reflect.Array:
			walk(t.Elem())
		case reflect.Struct:
			for i := range t.NumField() {
				walk(t.Field(i).Type)
			}
		}
	}
	walk(t)
	switch {
	case !refs:
		return argsShape{path: pathValue, custom: custom}
	case dynamic || custom:
		return argsShape{path: pathNormalize, custom: custom}
	}
	return argsShape{path: pathIsolate}
}

// snapshotArgs fixes the call's arguments: it sets ev's digest (and, if
// configured, the arguments' JSON) from the canonical encoding of *in and, on
// the isolating paths, replaces *in by a fresh value decoded from that
// encoding. private says *in was just decoded by the guard itself (CallJSON):
// nothing else refers into it, so it is not decoded again. It returns the
// canonical bytes when it encoded them (nil on the value path without
// RecordArgs), and why the arguments are refused.
func (g *Guard[In, Out]) snapshotArgs(ev *audit.Event, in *In, private bool) (canon []byte, err error) {
	// Encoding and decoding run the caller's own MarshalJSON and UnmarshalJSON:
	// a panic there refuses the arguments (and is recorded), it never escapes.
	defer func() {
		if r := recover(); r != nil {
			canon, err = nil, fmt.Errorf("encoding or decoding the arguments panicked: %v", r)
		}
	}()
	if g.ptrIn && reflect.ValueOf(*in).IsNil() {
		ev.ArgsDigest = audit.DigestBytes([]byte("null"))
		return nil, errors.New("arguments are a nil pointer")
	}
	// The UTF-8 walk reads the caller's value: an encoder writes an invalid
	// byte as U+FFFD, so after encoding the difference is gone.
	if g.utf8 != nil && !g.utf8(reflect.ValueOf(in).Elem(), 0) {
		ev.ArgsDigest, _, _ = audit.DigestLen(in)
		return nil, errors.New("arguments hold a string that is not valid UTF-8, or are cyclic or nested too deep")
	}
	if g.shape.path == pathValue && !g.shape.custom && !g.e.opts.RecordArgs {
		d, n, err := digestOf(g.flatIn, in)
		ev.ArgsDigest = d
		return nil, g.argsSize(n, err)
	}
	enc := argEncoders.Get().(*argEncoder)
	defer enc.put()
	b, err := enc.encode(in)
	if err == nil && g.shape.path != pathValue && !private {
		var fresh In
		if derr := json.Unmarshal(b, &fresh); derr != nil {
			err = fmt.Errorf("arguments do not decode from their own JSON encoding: %w", derr)
		} else {
			*in = fresh
			if g.shape.path == pathNormalize {
				b, err = enc.encode(in)
			}
		}
	}
	if err = g.argsSize(len(b), err); err == nil && g.shape.custom {
		if serr := checkStrict(b, reflect.TypeFor[In]()); serr != nil {
			err = fmt.Errorf("the arguments' JSON encoding is not strict: %w", serr)
		}
	}
	if err != nil {
		if b != nil {
			ev.ArgsDigest = audit.DigestBytes(b)
		}
		return nil, err
	}
	b = bytes.Clone(b) // the encoder's buffer goes back to the pool
	ev.ArgsDigest = audit.DigestBytes(b)
	if g.e.opts.RecordArgs {
		ev.Args = b
	}
	return b, nil
}

// digestOf is [audit.DigestLen] of *v, through f when v's type has one.
func digestOf[T any](f *flatJSON, v *T) (string, int, error) {
	if f == nil {
		return audit.DigestLen(v)
	}
	var buf [512]byte
	b := f.append(buf[:0], reflect.ValueOf(v).Elem())
	return audit.DigestBytes(b), len(b), nil
}

// argsSize is the refusal of arguments that could not be encoded or are over
// the size limit.
func (g *Guard[In, Out]) argsSize(n int, err error) error {
	switch {
	case err != nil:
		return fmt.Errorf("arguments cannot be encoded as JSON: %w", err)
	case n > g.e.opts.MaxArgsBytes:
		return fmt.Errorf("arguments are %d bytes of JSON, over the %d byte limit", n, g.e.opts.MaxArgsBytes)
	}
	return nil
}

// argEncoder encodes exactly as json.Marshal does, into a reused buffer.
type argEncoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var argEncoders = sync.Pool{New: func() any {
	e := new(argEncoder)
	e.enc = json.NewEncoder(&e.buf)
	return e
}}

// encode returns v's JSON encoding, valid until the next encode or put.
func (e *argEncoder) encode(v any) ([]byte, error) {
	e.buf.Reset()
	if err := e.enc.Encode(v); err != nil {
		return nil, err
	}
	b := e.buf.Bytes()
	return b[:len(b)-1], nil // Encode adds a newline that Marshal does not
}

func (e *argEncoder) put() {
	if e.buf.Cap() <= 64<<10 { // don't pin a huge buffer in the pool
		argEncoders.Put(e)
	}
}
