package audit

import (
	"bytes"
	"fmt"
	"io"
	"os"
)

// bounds returns the seq of the log's last record and the seq the active file
// (the first size bytes of f) starts with. The last record is the active
// file's last line or, if it is empty, the last line of the previous segment.
func bounds(f io.ReaderAt, size int64, segs []segment) (last, first uint64, err error) {
	if size == 0 {
		if len(segs) < 2 {
			return 0, 1, nil
		}
		prev, err := os.Open(segs[len(segs)-2].path)
		if err != nil {
			return 0, 0, err
		}
		defer prev.Close()
		fi, err := prev.Stat()
		if err != nil {
			return 0, 0, err
		}
		last, err = seqAt(prev, fi.Size(), false)
		return last, last + 1, err
	}
	if last, err = seqAt(f, size, false); err != nil {
		return 0, 0, err
	}
	first, err = seqAt(f, size, true)
	return last, first, err
}

// seqAt returns the seq of the first or last line of the first size bytes of r,
// which end with a newline.
func seqAt(r io.ReaderAt, size int64, firstLine bool) (uint64, error) {
	var line []byte
	if firstLine {
		b := make([]byte, min(size, 256))
		if _, err := r.ReadAt(b, 0); err != nil {
			return 0, err
		}
		line = b
	} else {
		start, err := lastNewline(r, size-1)
		if err != nil {
			return 0, err
		}
		line = make([]byte, min(size-start, 256))
		if _, err := r.ReadAt(line, start); err != nil {
			return 0, err
		}
	}
	seq, ok := parseSeq(line)
	if !ok {
		which := "last"
		if firstLine {
			which = "first"
		}
		return 0, fmt.Errorf("%w: the %s record has no sequence number", ErrCorrupt, which)
	}
	return seq, nil
}

// tailRecords returns the records of the first size bytes of r (which end with
// a newline) that come after seq after, reading backwards from the end as far
// as needed. ok is false if the records do not reach back to after+1.
func tailRecords(r io.ReaderAt, size int64, after uint64) (recs [][]byte, ok bool, err error) {
	for chunk := int64(64 << 10); ; chunk *= 2 {
		start := max(0, size-chunk)
		buf := make([]byte, size-start)
		if _, err := r.ReadAt(buf, start); err != nil {
			return nil, false, err
		}
		if start > 0 {
			i := bytes.IndexByte(buf, '\n')
			buf = buf[i+1:]
		}
		lines := bytes.SplitAfter(buf, []byte("\n"))
		lines = lines[:len(lines)-1] // the empty string after the final newline
		for i, l := range lines {
			seq, _ := parseSeq(l)
			if seq == after+1 {
				for j := range lines[i:] {
					lines[i+j] = bytes.TrimSuffix(lines[i+j], []byte("\n"))
				}
				return lines[i:], true, nil
			}
			if seq > after+1 {
				break
			}
		}
		if start == 0 {
			return nil, false, nil
		}
	}
}
