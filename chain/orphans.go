package chain

// orphanPool keeps blocks whose parent is unknown until the parent arrives.
// It is bounded by count and bytes; the oldest orphan goes first, since sync
// will fetch the whole missing branch anyway.
type orphanPool struct {
	maxCount, maxBytes int
	bytes              int
	byHash             map[Hash]*Block
	byParent           map[Hash][]Hash
	order              []Hash // arrival order, for eviction
}

func newOrphanPool(maxCount, maxBytes int) *orphanPool {
	return &orphanPool{maxCount: maxCount, maxBytes: maxBytes, byHash: make(map[Hash]*Block), byParent: make(map[Hash][]Hash)}
}

func (o *orphanPool) has(h Hash) bool { _, ok := o.byHash[h]; return ok }

func (o *orphanPool) add(b *Block) {
	h := b.Hash()
	if o.has(h) {
		return
	}
	size := b.Size()
	for len(o.order) > 0 && (len(o.byHash) >= o.maxCount || o.bytes+size > o.maxBytes) {
		o.remove(o.order[0])
	}
	o.byHash[h] = b
	o.bytes += size
	o.byParent[b.PrevHash] = append(o.byParent[b.PrevHash], h)
	o.order = append(o.order, h)
}

func (o *orphanPool) remove(h Hash) {
	b, ok := o.byHash[h]
	if !ok {
		return
	}
	delete(o.byHash, h)
	o.bytes -= b.Size()
	kids := o.byParent[b.PrevHash]
	for i, k := range kids {
		if k == h {
			kids = append(kids[:i], kids[i+1:]...)
			break
		}
	}
	if len(kids) == 0 {
		delete(o.byParent, b.PrevHash)
	} else {
		o.byParent[b.PrevHash] = kids
	}
	for i, k := range o.order {
		if k == h {
			o.order = append(o.order[:i], o.order[i+1:]...)
			break
		}
	}
}

// takeChildren removes and returns the orphans whose parent is h.
func (o *orphanPool) takeChildren(h Hash) []*Block {
	var out []*Block
	for _, k := range append([]Hash(nil), o.byParent[h]...) {
		out = append(out, o.byHash[k])
		o.remove(k)
	}
	return out
}

func (o *orphanPool) len() int { return len(o.byHash) }
