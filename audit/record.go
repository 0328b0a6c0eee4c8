package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
)

// seqPrefix starts every record: Seq is the first field of [Event], so the
// canonical encoding of a numbered event always begins with it.
const seqPrefix = `{"seq":`

// maxRecord bounds one record line. A longer line is corrupt, not a reason to
// allocate without limit while reading an untrusted log.
const maxRecord = 16 << 20

// MarshalRecord returns the canonical record of e numbered seq: the JSON
// encoding/json produces for e with Seq set (fields in declaration order,
// HTML-sensitive characters escaped), without a trailing newline. These are the
// exact bytes a log stores on one line and hashes into its Merkle tree.
func MarshalRecord(e Event, seq uint64) ([]byte, error) {
	e.Seq = 0
	body, err := appendMarshal(nil, &e)
	if err != nil {
		return nil, err
	}
	return appendRecord(nil, seq, body), nil
}

// encodeBody encodes e without its sequence number into a pooled buffer. It
// is the costly part of a record and needs no lock; [appendRecord] numbers it
// once the log's order is known. Give the buffer back with [freeBody].
func encodeBody(e *Event) (*[]byte, error) {
	e.Seq = 0
	bp := bodies.Get().(*[]byte)
	b, err := appendMarshal((*bp)[:0], e)
	if err != nil {
		bodies.Put(bp)
		return nil, err
	}
	*bp = b
	return bp, nil
}

var bodies = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func freeBody(bp *[]byte) {
	if cap(*bp) <= 64<<10 {
		bodies.Put(bp)
	}
}

// appendRecord appends to dst the record of body numbered seq. Because Seq is
// the first field and omitted when zero, this equals the encoding of the event
// with Seq set.
func appendRecord(dst []byte, seq uint64, body []byte) []byte {
	dst = append(dst, seqPrefix...)
	dst = strconv.AppendUint(dst, seq, 10)
	if len(body) > 2 { // body is "{...}"; "{}" cannot occur since id is never omitted
		dst = append(dst, ',')
	}
	return append(dst, body[1:]...)
}

// parseSeq returns the sequence number at the start of a canonical record.
func parseSeq(rec []byte) (uint64, bool) {
	if !bytes.HasPrefix(rec, []byte(seqPrefix)) {
		return 0, false
	}
	rest := rec[len(seqPrefix):]
	i := 0
	for i < len(rest) && i < 21 && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	if i == 0 || i == len(rest) || (rest[i] != ',' && rest[i] != '}') || (rest[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseUint(string(rest[:i]), 10, 64)
	return n, err == nil
}

// ReadLog decodes the JSON-lines log in r and calls fn for each event in order. It
// stops at the first error, which it returns; a line that is not a JSON event is
// reported as [ErrCorrupt] with its line number.
func ReadLog(r io.Reader, fn func(Event) error) error {
	if r == nil || fn == nil {
		return errors.New("audit: ReadLog: nil reader or function")
	}
	lr := newLineReader(r)
	for line := 1; ; line++ {
		rec, _, complete, err := lr.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if !complete && len(bytes.TrimSpace(rec)) == 0 {
			return nil
		}
		var e Event
		if err := json.Unmarshal(rec, &e); err != nil {
			return fmt.Errorf("%w: line %d: %v", ErrCorrupt, line, err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}

// lineReader reads newline-terminated records and their offsets.
type lineReader struct {
	r   *bufio.Reader
	off int64
	buf []byte
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, 1<<20)}
}

// next returns the next line without its newline, the offset it starts at, and
// whether it was terminated by a newline (an unterminated last line is torn).
// The line is valid until the next call. At the end it returns io.EOF.
func (lr *lineReader) next() (line []byte, off int64, complete bool, err error) {
	off = lr.off
	line, err = lr.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		lr.buf = append(lr.buf[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) && len(lr.buf) <= maxRecord {
			line, err = lr.r.ReadSlice('\n')
			lr.buf = append(lr.buf, line...)
		}
		line = lr.buf
		if len(line) > maxRecord {
			return nil, off, false, fmt.Errorf("%w: line at offset %d longer than %d bytes", ErrCorrupt, off, maxRecord)
		}
	}
	lr.off += int64(len(line))
	switch {
	case err == nil:
		return line[:len(line)-1], off, true, nil
	case err == io.EOF && len(line) > 0:
		return line, off, false, nil
	case err == io.EOF:
		return nil, off, false, io.EOF
	default:
		return nil, off, false, fmt.Errorf("audit: read log: %w", err)
	}
}
