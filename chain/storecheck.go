package chain

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
)

// StoreReport is what CheckStore found in a sound store.
type StoreReport struct {
	Empty         bool // no genesis written yet
	Genesis, Head Hash
	Height        uint64 // main-chain blocks, the genesis included
	Blocks        int    // block records (main chain and side branches)
	Accounts      int
	Took          time.Duration // the whole check
	BoltCheck     time.Duration // of which bbolt's own page check (tx.Check)
}

// CheckStore opens the store at path read-only and checks all of it: the
// file before it is mapped (as every open does), every record (block
// records hash to their keys, headers link to stored parents, the main
// chain links from the genesis to the head, every main-chain block has its
// undo record), then bbolt's own consistency check of every page (tx.Check:
// no page lost or referenced twice, keys in order). It reads the whole file,
// so the node does not do it at every start; `gossipchain store check`
// does. A damaged store is a StoreDamageError listing what is wrong.
func CheckStore(path string) (*StoreReport, error) {
	start := time.Now()
	s, err := openStore(path, true)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	t, err := s.load()
	if err != nil {
		return nil, err
	}
	r := &StoreReport{Genesis: t.genesis, Head: t.head, Height: uint64(len(t.main)), Accounts: len(t.state)}
	if t.genesis.IsZero() {
		r.Empty = true
	} else if err := s.checkLinks(t); err != nil {
		return nil, err
	}
	var problems []string
	err = s.guard("check records", func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			problems = s.checkRecords(tx, t, r)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	if len(problems) == 0 {
		// bbolt's check runs on a goroutine of its own, out of guard's
		// reach: only after every record was read without a fault.
		boltStart := time.Now()
		err = s.guard("bbolt check", func() error {
			return s.db.View(func(tx *bolt.Tx) error {
				for err := range tx.Check() {
					if len(problems) < 10 {
						problems = append(problems, "bbolt: "+err.Error())
					}
				}
				return nil
			})
		})
		r.BoltCheck = time.Since(boltStart)
		if err != nil {
			return nil, err
		}
	}
	if len(problems) > 0 {
		return nil, s.damage("%s", strings.Join(problems, "; "))
	}
	r.Took = time.Since(start)
	return r, nil
}

// checkLinks is Open's check of the stored tree, without building a Chain.
func (s *Store) checkLinks(t *storedTree) error {
	byHash := make(map[Hash]*Header, len(t.headers))
	for i := range t.headers {
		h := &t.headers[i]
		if h.hash != t.genesis {
			if _, ok := byHash[h.header.PrevHash]; !ok {
				return s.damage("stored block %s has no stored parent", h.hash)
			}
		}
		byHash[h.hash] = &h.header
	}
	if len(t.main) == 0 || t.main[0] != t.genesis {
		return s.damage("the main chain does not start at the genesis")
	}
	for i, h := range t.main {
		hd := byHash[h]
		if hd == nil || hd.Index != uint64(i+1) || (i > 0 && hd.PrevHash != t.main[i-1]) {
			return s.damage("main chain entry %d (%s) does not link", i+1, h)
		}
	}
	if t.main[len(t.main)-1] != t.head {
		return s.damage("stored head %s is not the main chain's tip", t.head)
	}
	return nil
}

// checkRecords reads every block and undo record; it returns what is wrong
// (at most ten things).
func (s *Store) checkRecords(tx *bolt.Tx, t *storedTree, r *StoreReport) []string {
	var problems []string
	add := func(err error) bool {
		var d *StoreDamageError
		if errors.As(err, &d) {
			problems = append(problems, d.Problem)
		} else {
			problems = append(problems, err.Error())
		}
		return len(problems) < 10
	}
	blocks, undo := tx.Bucket(bucketBlocks), tx.Bucket(bucketUndo)
	if blocks == nil || undo == nil {
		return []string{"bucket blocks or undo missing"}
	}
	stored := make(map[Hash]bool, len(t.headers))
	c := blocks.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		r.Blocks++
		if len(k) != len(recordKey{}) {
			if !add(fmt.Errorf("block record key %x: wrong size", k)) {
				return problems
			}
			continue
		}
		if v == nil { // a large record: a nested bucket
			if v = getRecord(blocks, k); v == nil {
				if !add(fmt.Errorf("block record %x: a nested bucket without its value", k)) {
					return problems
				}
				continue
			}
		}
		if _, err := s.storedBlock(recordKey(k), v); err != nil {
			if !add(err) {
				return problems
			}
			continue
		}
		stored[recordKey(k).hash()] = true
	}
	for _, h := range t.headers {
		if !stored[h.hash] {
			if !add(fmt.Errorf("block %s is in the tree but its record is missing or damaged", h.hash)) {
				return problems
			}
		}
	}
	for i, h := range t.main {
		if i == 0 {
			continue // the genesis is never disconnected
		}
		k := keyOf(uint64(i+1), h)
		v := getRecord(undo, k[:])
		if v == nil {
			if !add(fmt.Errorf("undo record of main-chain block %d (%s) is missing", i+1, h)) {
				return problems
			}
			continue
		}
		if _, err := decodeUndo(v); err != nil {
			if !add(fmt.Errorf("undo record of main-chain block %d (%s): %v", i+1, h, err)) {
				return problems
			}
		}
	}
	c = undo.Cursor()
	for k, _ := c.First(); k != nil; k, _ = c.Next() {
		if len(k) != len(recordKey{}) || binary.BigEndian.Uint64(k) == 0 {
			if !add(fmt.Errorf("undo record key %x: wrong size", k)) {
				return problems
			}
		}
	}
	return problems
}
