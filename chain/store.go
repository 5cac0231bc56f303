package chain

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Store is the on-disk ledger, one bbolt file. Every change to it is one
// bbolt transaction (a block, or a batch of blocks during sync), so a process
// killed at any moment reopens at the last commit, which holds every block
// that AddBlock or AddBlocks had returned for.
//
// Buckets:
//
//	blocks:  index ‖ hash → block encoding
//	headers: index ‖ hash → header encoding + status byte (the block tree, loaded at start)
//	main:    big-endian index → hash (the main chain)
//	state:   address → balance, nonce (the head state)
//	undo:    index ‖ hash → accounts before the block (to disconnect it in a reorg)
//	meta:    "genesis", "head" → hash, "format" → storeFormat
//
// Block records are keyed by big-endian index, then hash: new blocks append
// at the end of each B-tree, so a commit writes only the pages it adds,
// where hash keys would scatter every commit over the whole tree (sync
// slowed down as the chain grew). The tree in memory knows every block's
// index, so lookups by hash cost nothing more.
type Store struct {
	db *bolt.DB
}

var (
	bucketBlocks  = []byte("blocks")
	bucketHeaders = []byte("headers")
	bucketMain    = []byte("main")
	bucketState   = []byte("state")
	bucketUndo    = []byte("undo")
	bucketMeta    = []byte("meta")
	keyGenesis    = []byte("genesis")
	keyHead       = []byte("head")
	keyFormat     = []byte("format")
)

// storeFormat is written in meta; a store of another format is refused
// rather than misread.
const storeFormat = "2"

// recordKey keys a block's records: big-endian index, then hash.
type recordKey [40]byte

func keyOf(index uint64, h Hash) recordKey {
	var k recordKey
	binary.BigEndian.PutUint64(k[:8], index)
	copy(k[8:], h[:])
	return k
}

func (k recordKey) hash() Hash { return Hash(k[8:]) }

// Block status in the tree.
const (
	statusStored  byte = 0 // data stored, not yet connected to any state
	statusValid   byte = 1 // connected once: its transactions were valid
	statusInvalid byte = 2 // broke a rule; so do its descendants
)

// OpenStore opens or creates the store file.
func OpenStore(path string) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second, FreelistType: bolt.FreelistMapType, InitialMmapSize: 256 << 20})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return nil, fmt.Errorf("store %s is locked by another process", path)
		}
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketBlocks, bucketHeaders, bucketMain, bucketState, bucketUndo, bucketMeta} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Close closes the file.
func (s *Store) Close() error { return s.db.Close() }

// writeSet is everything one commit changes. It is filled in memory while
// blocks are validated and written in one bbolt transaction.
type writeSet struct {
	blocks     map[recordKey][]byte
	headers    map[recordKey][]byte
	undo       map[recordKey][]byte
	state      map[Address]Account
	main       map[uint64]Hash
	mainHeight uint64 // main entries above it are deleted
	oldHeight  uint64
	head       *Hash
	genesis    *Hash
}

func newWriteSet() *writeSet {
	return &writeSet{
		blocks:  make(map[recordKey][]byte),
		headers: make(map[recordKey][]byte),
		undo:    make(map[recordKey][]byte),
		state:   make(map[Address]Account),
		main:    make(map[uint64]Hash),
	}
}

func (w *writeSet) empty() bool {
	return len(w.blocks) == 0 && len(w.headers) == 0 && len(w.state) == 0 && len(w.main) == 0 && w.head == nil && w.genesis == nil && w.mainHeight >= w.oldHeight
}

func headerRecord(h *Header, status byte) []byte {
	b := make([]byte, HeaderSize+1)
	h.put(b)
	b[HeaderSize] = status
	return b
}

func indexKey(i uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, i)
	return k
}

func (s *Store) commit(w *writeSet) error {
	if w.empty() {
		return nil
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		blocks, headers, undo := tx.Bucket(bucketBlocks), tx.Bucket(bucketHeaders), tx.Bucket(bucketUndo)
		for k, b := range w.blocks {
			if err := blocks.Put(k[:], b); err != nil {
				return err
			}
		}
		for k, b := range w.headers {
			if err := headers.Put(k[:], b); err != nil {
				return err
			}
		}
		for k, b := range w.undo {
			if err := undo.Put(k[:], b); err != nil {
				return err
			}
		}
		state := tx.Bucket(bucketState)
		for a, acct := range w.state {
			var err error
			if acct.isZero() {
				err = state.Delete(a[:])
			} else {
				err = state.Put(a[:], encodeAccount(acct))
			}
			if err != nil {
				return err
			}
		}
		main := tx.Bucket(bucketMain)
		for i := w.mainHeight + 1; i <= w.oldHeight; i++ {
			if err := main.Delete(indexKey(i)); err != nil {
				return err
			}
		}
		for i, h := range w.main {
			if err := main.Put(indexKey(i), h[:]); err != nil {
				return err
			}
		}
		meta := tx.Bucket(bucketMeta)
		if w.genesis != nil {
			if err := meta.Put(keyGenesis, w.genesis[:]); err != nil {
				return err
			}
			if err := meta.Put(keyFormat, []byte(storeFormat)); err != nil {
				return err
			}
		}
		if w.head != nil {
			if err := meta.Put(keyHead, w.head[:]); err != nil {
				return err
			}
		}
		return nil
	})
}

// storedTree is what Open reads back: the block tree, main chain and state.
type storedTree struct {
	genesis, head Hash
	headers       []storedHeader // in index order: parents before children
	main          []Hash         // main[i] has index i+1
	state         map[Address]Account
}

type storedHeader struct {
	hash   Hash
	header Header
	status byte
}

func (s *Store) load() (*storedTree, error) {
	t := &storedTree{state: make(map[Address]Account)}
	err := s.db.View(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		g := meta.Get(keyGenesis)
		if g == nil {
			return nil // empty store
		}
		if f := string(meta.Get(keyFormat)); f != storeFormat {
			return fmt.Errorf("store format %q, this version reads %q: start with a new data directory", f, storeFormat)
		}
		copy(t.genesis[:], g)
		copy(t.head[:], meta.Get(keyHead))
		err := tx.Bucket(bucketHeaders).ForEach(func(k, v []byte) error {
			if len(k) != len(recordKey{}) || len(v) != HeaderSize+1 {
				return fmt.Errorf("header record: %w", ErrMalformed)
			}
			h, _ := DecodeHeader(v[:HeaderSize])
			if h.Index != binary.BigEndian.Uint64(k) {
				return fmt.Errorf("header record index: %w", ErrMalformed)
			}
			t.headers = append(t.headers, storedHeader{recordKey(k).hash(), h, v[HeaderSize]})
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Bucket(bucketMain).ForEach(func(k, v []byte) error {
			if len(k) != 8 || len(v) != 32 || binary.BigEndian.Uint64(k) != uint64(len(t.main)+1) {
				return fmt.Errorf("main chain index: %w", ErrMalformed)
			}
			t.main = append(t.main, Hash(v))
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketState).ForEach(func(k, v []byte) error {
			acct, err := decodeAccount(v)
			if err != nil || len(k) != 32 {
				return fmt.Errorf("state record: %w", ErrMalformed)
			}
			t.state[Address(k)] = acct
			return nil
		})
	})
	return t, err
}

func (s *Store) block(k recordKey) (*Block, error) {
	var blk *Block
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketBlocks).Get(k[:])
		if v == nil {
			return fmt.Errorf("block %s: %w", k.hash(), ErrNotFound)
		}
		var err error
		blk, err = DecodeBlock(v, 0)
		return err
	})
	return blk, err
}

// blocksUpTo reads blocks in order in one read transaction, stopping before
// the one that would take the total encoded size over maxBytes (but always
// reading the first). maxBytes < 0 means no limit.
func (s *Store) blocksUpTo(ks []recordKey, maxBytes int) ([]*Block, error) {
	out := make([]*Block, 0, len(ks))
	err := s.db.View(func(tx *bolt.Tx) error {
		bk := tx.Bucket(bucketBlocks)
		size := 0
		for _, k := range ks {
			v := bk.Get(k[:])
			if v == nil {
				return fmt.Errorf("block %s: %w", k.hash(), ErrNotFound)
			}
			if maxBytes >= 0 && len(out) > 0 && size+len(v) > maxBytes {
				return nil
			}
			b, err := DecodeBlock(v, 0)
			if err != nil {
				return err
			}
			out = append(out, b)
			size += len(v)
		}
		return nil
	})
	return out, err
}

func (s *Store) undoRecord(k recordKey) ([]undoEntry, error) {
	var undo []undoEntry
	err := s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketUndo).Get(k[:])
		if v == nil {
			return fmt.Errorf("undo for block %s: %w", k.hash(), ErrNotFound)
		}
		var err error
		undo, err = decodeUndo(v)
		return err
	})
	return undo, err
}
