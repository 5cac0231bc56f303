package chain

import (
	"bytes"
	"slices"
)

// records are one bucket's puts of a commit, in the order made. A commit
// writes them sorted by key, the last put of a key winning: keys are index
// first, so a sync's puts land in order at the right edge of each B-tree,
// and a slice costs less than the map it replaces (a header is put twice
// per block at most: stored, then valid).
type records []record

type record struct {
	k recordKey
	v []byte
}

func (r *records) put(k recordKey, v []byte) { *r = append(*r, record{k, v}) }

// sorted returns the records by key, one per key (the last put).
func (r records) sorted() records {
	if !slices.IsSortedFunc(r, cmpRecord) {
		slices.SortStableFunc(r, cmpRecord)
	}
	out := r[:0]
	for i, e := range r {
		if i+1 < len(r) && r[i+1].k == e.k {
			continue // a later put of the same key
		}
		out = append(out, e)
	}
	return out
}

func cmpRecord(a, b record) int { return bytes.Compare(a.k[:], b.k[:]) }
