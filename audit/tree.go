package audit

import (
	"errors"
	"fmt"
	"io"
	"sort"

	"golang.org/x/mod/sumdb/tlog"
)

// tree is the right edge of an RFC 6962 Merkle tree: the roots of its complete
// subtrees, largest first. It is all a log needs in memory to append records and
// compute its root; every other hash lives in the hashes file.
type tree struct {
	n     int64
	stack []tlog.Hash
}

// add appends the record with leaf hash h and appends to stored the hashes that
// tlog stores for it (see [tlog.StoredHashes]), leaf first.
func (t *tree) add(h tlog.Hash, stored []tlog.Hash) []tlog.Hash {
	stored = append(stored, h)
	for k := t.n; k&1 == 1; k >>= 1 {
		h = tlog.NodeHash(t.stack[len(t.stack)-1], h)
		t.stack = t.stack[:len(t.stack)-1]
		stored = append(stored, h)
	}
	t.stack = append(t.stack, h)
	t.n++
	return stored
}

// root returns the tree hash, as [tlog.TreeHash] computes it.
func (t *tree) root() tlog.Hash {
	if len(t.stack) == 0 {
		return tlog.Hash{}
	}
	h := t.stack[len(t.stack)-1]
	for i := len(t.stack) - 2; i >= 0; i-- {
		h = tlog.NodeHash(t.stack[i], h)
	}
	return h
}

func (t *tree) clone() tree {
	return tree{n: t.n, stack: append([]tlog.Hash(nil), t.stack...)}
}

// loadTree rebuilds the right edge of the tree of n records from stored hashes.
func loadTree(n int64, r tlog.HashReader) (tree, error) {
	var idx []int64
	start := int64(0)
	for level := 62; level >= 0; level-- {
		if n&(1<<level) != 0 {
			idx = append(idx, tlog.StoredHashIndex(level, start>>level))
			start += 1 << level
		}
	}
	hs, err := r.ReadHashes(idx)
	if err != nil {
		return tree{}, err
	}
	return tree{n: n, stack: hs}, nil
}

// hashFile is the hashes file beside a log: every stored hash of the tree, in
// tlog's stored-hash order, 32 bytes each. Record n's hashes are appended after
// record n-1's, so the file only ever grows at its end.
type hashFile struct {
	f io.ReaderAt
}

// ReadHashes implements [tlog.HashReader].
func (h hashFile) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		if _, err := h.f.ReadAt(out[i][:], x*tlog.HashSize); err != nil {
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("%w: hashes file has no hash %d", ErrCorrupt, x)
			}
			return nil, err
		}
	}
	return out, nil
}

// recordsIn returns how many records the first size bytes of a hashes file
// cover completely.
func recordsIn(size int64) int64 {
	hashes := size / tlog.HashSize
	return int64(sort.Search(int(hashes)+1, func(n int) bool {
		return tlog.StoredHashCount(int64(n)+1) > hashes
	}))
}

// appendHashes appends hs to b as raw bytes.
func appendHashes(b []byte, hs []tlog.Hash) []byte {
	for i := range hs {
		b = append(b, hs[i][:]...)
	}
	return b
}

// Tree is the right edge of a log's RFC 6962 Merkle tree, for stores that keep
// a log elsewhere than in a [File] (the PostgreSQL sink keeps its edge in a
// row). It holds O(log n) hashes. The zero Tree is empty. A Tree is not safe
// for concurrent use.
type Tree struct{ t tree }

// NewTree returns the tree of size records whose edge (the roots of its
// complete subtrees, largest first) is edge, as [Tree.Edge] returned it.
func NewTree(size int64, edge []tlog.Hash) (*Tree, error) {
	want := 0
	for n := size; n > 0; n &= n - 1 {
		want++
	}
	if size < 0 || len(edge) != want {
		return nil, fmt.Errorf("%w: a tree of %d records has %d edge hashes, not %d", ErrCorrupt, size, want, len(edge))
	}
	return &Tree{tree{n: size, stack: append([]tlog.Hash(nil), edge...)}}, nil
}

// Append adds record and returns stored with the hashes tlog stores for it
// appended, leaf first: record n's hash at level L is node n>>L, kept by the
// record that completes it.
func (t *Tree) Append(record []byte, stored []tlog.Hash) []tlog.Hash {
	if t == nil {
		return stored
	}
	return t.t.add(tlog.RecordHash(record), stored)
}

// Size returns the number of records.
func (t *Tree) Size() int64 {
	if t == nil {
		return 0
	}
	return t.t.n
}

// Root returns the tree hash.
func (t *Tree) Root() tlog.Hash {
	if t == nil {
		return tlog.Hash{}
	}
	return t.t.root()
}

// Edge returns the roots of the complete subtrees, largest first.
func (t *Tree) Edge() []tlog.Hash {
	if t == nil {
		return nil
	}
	return append([]tlog.Hash(nil), t.t.stack...)
}
