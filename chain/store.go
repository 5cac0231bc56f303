package chain

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
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
//	blocks:  index ‖ hash → block encoding (a large one in a bucket of its own)
//	headers: index ‖ hash → header encoding + status byte (the block tree, loaded at start)
//	main:    big-endian index → hash (the main chain)
//	state:   address → balance, nonce (the head state)
//	undo:    index ‖ hash → accounts before the block (a large one in a bucket of its own)
//	meta:    "genesis", "head" → hash, "format" → storeFormat
//
// Block records are keyed by big-endian index, then hash: new blocks append
// at the end of each B-tree, so a commit writes only the pages it adds,
// where hash keys would scatter every commit over the whole tree (sync
// slowed down as the chain grew). The tree in memory knows every block's
// index, so lookups by hash cost nothing more.
//
// A block or undo record larger than half a page is not a value but a
// nested bucket under the same key holding the record under largeValueKey.
// bbolt never splits a leaf of four keys or fewer (minKeysPerPage*2), so
// with large values under appended keys every commit rewrote the last leaf
// whole, up to three earlier records with it: a 304 KB block of 2,000
// transactions cost 1.35 MB of writes a commit. A nested bucket leaves only
// its 16-byte header in the parent's leaf, and its value's pages are
// written once. Smaller records stay values: a nested bucket that small
// would be inlined in the parent's leaf anyway (bbolt inlines up to a
// quarter page), and a sync's thousands of coinbase-only blocks a commit
// pack densely as values.
//
// A damaged file is an error, not a crash: OpenStore checks the file before
// bbolt maps it (checkStoreFile), every access runs under guard, and
// records that do not decode or do not hash to their key are
// StoreDamageErrors.
type Store struct {
	db      *bolt.DB
	path    string
	large   int          // records longer than this are nested buckets
	log     *slog.Logger // nil: no logging
	damaged atomic.Pointer[StoreDamageError]
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
	largeValueKey = []byte{0} // a large record's value in its nested bucket
)

// storeFormat is written in meta; a store of another format is refused
// rather than misread. Format 3 added large records as nested buckets; a
// format 2 store (every record a value) is read as it is and relabelled 3
// at open, its new records written the new way, so that a build reading
// only format 2 refuses it instead of calling the nested buckets damage.
const (
	storeFormat    = "3"
	oldStoreFormat = "2"
)

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

// OpenStore opens or creates the store file. A damaged file is a
// StoreDamageError (errors.Is ErrStoreDamaged).
func OpenStore(path string) (*Store, error) {
	return openStore(path, false)
}

func boltOptions(readOnly bool) *bolt.Options {
	o := &bolt.Options{Timeout: 2 * time.Second, FreelistType: bolt.FreelistMapType, ReadOnly: readOnly}
	if !readOnly {
		o.InitialMmapSize = 256 << 20
	}
	return o
}

// preCheck is checkStoreFile; tests turn it off to see guard catch what it
// would have.
var preCheck = checkStoreFile

func openStore(path string, readOnly bool) (*Store, error) {
	if err := preCheck(path); err != nil {
		return nil, err
	}
	s := &Store{path: path}
	_, statErr := os.Stat(path)
	created := !readOnly && errors.Is(statErr, fs.ErrNotExist)
	err := s.guard("open", func() error {
		db, err := bolt.Open(path, 0o600, boltOptions(readOnly))
		if err != nil {
			if errors.Is(err, bolt.ErrTimeout) {
				return fmt.Errorf("store %s is locked by another process (a node running on this data directory?)", path)
			}
			if errors.Is(err, bolt.ErrInvalid) || errors.Is(err, bolt.ErrVersionMismatch) || errors.Is(err, bolt.ErrChecksum) {
				return s.damage("%v", err)
			}
			return fmt.Errorf("store %s: %w", path, err)
		}
		s.db = db
		s.large = db.Info().PageSize / 2
		return nil
	})
	if err != nil {
		return nil, err
	}
	if readOnly {
		return s, nil
	}
	err = s.guard("create buckets", func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			for _, b := range [][]byte{bucketBlocks, bucketHeaders, bucketMain, bucketState, bucketUndo, bucketMeta} {
				if _, err := tx.CreateBucketIfNotExists(b); err != nil {
					return err
				}
			}
			if meta := tx.Bucket(bucketMeta); string(meta.Get(keyFormat)) == oldStoreFormat {
				return meta.Put(keyFormat, []byte(storeFormat))
			}
			return nil
		})
	})
	if err != nil {
		s.Close()
		if errors.Is(err, bolt.ErrIncompatibleValue) { // a bucket name holds a plain value
			err = s.damage("%v", err)
		}
		return nil, fmt.Errorf("store %s: %w", path, err)
	}
	if created {
		// bbolt syncs the new file; its name is durable once the
		// directory is synced too (e2e.TestDataFilesSurvivePowerCut).
		if err := syncDir(filepath.Dir(path)); err != nil {
			s.Close()
			return nil, fmt.Errorf("store %s: sync its directory: %w", path, err)
		}
	}
	return s, nil
}

// setLogger has the store log damage at error level when it finds it, as
// the callers of a read (a sync request, an API call) may log it lower.
func (s *Store) setLogger(l *slog.Logger) { s.log = l }

// Close closes the file. After a fault bbolt may still hold its locks, so
// a damaged store is closed with a deadline.
func (s *Store) Close() error {
	if s.db == nil {
		return nil
	}
	d := s.damaged.Load()
	if d == nil {
		return s.guard("close", s.db.Close)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { recover() }()
		s.db.Close()
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	return d
}

// writeSet is everything one commit changes. It is filled in memory while
// blocks are validated and written in one bbolt transaction.
type writeSet struct {
	blocks     records
	headers    records
	undo       records
	state      map[Address]Account
	main       map[uint64]Hash
	mainHeight uint64 // main entries above it are deleted
	oldHeight  uint64
	head       *Hash
	genesis    *Hash
}

func newWriteSet() *writeSet {
	return &writeSet{
		state: make(map[Address]Account),
		main:  make(map[uint64]Hash),
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

// appendFill is how full the append-mostly buckets' pages are split:
// whole, since their keys only grow (a side branch's block, which sorts
// among them, splits its page once). At 0.9 a commit of 1,024
// coinbase-only blocks wrote 191 pages, at 1.0 it writes 173.
const appendFill = 1.0

func (s *Store) commit(w *writeSet) error {
	if w.empty() {
		return nil
	}
	return s.guard("commit", func() error { return s.commitTx(w) })
}

func (s *Store) commitTx(w *writeSet) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		blocks, headers, undo := tx.Bucket(bucketBlocks), tx.Bucket(bucketHeaders), tx.Bucket(bucketUndo)
		main := tx.Bucket(bucketMain)
		// Keys are index first: records are appended, and pages split at
		// bbolt's default half would stay half empty for good, doubling
		// the pages each commit allocates and writes.
		for _, b := range []*bolt.Bucket{blocks, headers, undo, main} {
			b.FillPercent = appendFill
		}
		for _, set := range []struct {
			b *bolt.Bucket
			r records
		}{{blocks, w.blocks}, {headers, w.headers}, {undo, w.undo}} {
			for _, e := range set.r.sorted() {
				if err := s.putRecord(set.b, e.k[:], e.v); err != nil {
					return err
				}
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
		for i := w.mainHeight + 1; i <= w.oldHeight; i++ {
			if err := main.Delete(indexKey(i)); err != nil {
				return err
			}
		}
		// In index order: bbolt inserts each key into its leaf's sorted
		// slice, so a sync's thousands of main entries put in the map's
		// random order shifted half the leaf's entries each time.
		idx := make([]uint64, 0, len(w.main))
		for i := range w.main {
			idx = append(idx, i)
		}
		slices.Sort(idx)
		keys := make([]byte, 8*len(idx))
		for j, i := range idx {
			k := keys[8*j : 8*j+8 : 8*j+8]
			binary.BigEndian.PutUint64(k, i)
			h := w.main[i]
			if err := main.Put(k, h[:]); err != nil {
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

// putRecord puts a block or undo record: a value, or a nested bucket if it
// is large. A record put again (an undo record when its block is connected
// again after a reorg) may find the other kind under its key, from a
// format 2 store: that one is replaced.
func (s *Store) putRecord(b *bolt.Bucket, k, v []byte) error {
	if len(v) <= s.large {
		err := b.Put(k, v)
		if errors.Is(err, bolt.ErrIncompatibleValue) {
			if err = b.DeleteBucket(k); err == nil {
				err = b.Put(k, v)
			}
		}
		return err
	}
	nested, err := b.CreateBucketIfNotExists(k)
	if errors.Is(err, bolt.ErrIncompatibleValue) {
		if err = b.Delete(k); err == nil {
			nested, err = b.CreateBucket(k)
		}
	}
	if err != nil {
		return err
	}
	return nested.Put(largeValueKey, v)
}

// getRecord is a block or undo record's value, whichever way it was
// stored; nil if there is none (or a nested bucket lost its value).
func getRecord(b *bolt.Bucket, k []byte) []byte {
	if v := b.Get(k); v != nil {
		return v
	}
	if nested := b.Bucket(k); nested != nil {
		return nested.Get(largeValueKey)
	}
	return nil
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
	err := s.guard("load", func() error { return s.db.View(func(tx *bolt.Tx) error { return s.loadTx(tx, t) }) })
	return t, err
}

func (s *Store) loadTx(tx *bolt.Tx, t *storedTree) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return s.damage("bucket %q missing", bucketMeta)
	}
	for _, b := range [][]byte{bucketHeaders, bucketMain, bucketState} {
		if tx.Bucket(b) == nil {
			return s.damage("bucket %q missing", b)
		}
	}
	g := meta.Get(keyGenesis)
	if g == nil {
		return nil // empty store
	}
	if f := string(meta.Get(keyFormat)); f != storeFormat && f != oldStoreFormat {
		return fmt.Errorf("store format %q, this version reads %q: start with a new data directory", f, storeFormat)
	}
	if len(g) != len(Hash{}) || len(meta.Get(keyHead)) != len(Hash{}) {
		return s.damage("genesis or head record of the wrong size")
	}
	copy(t.genesis[:], g)
	copy(t.head[:], meta.Get(keyHead))
	err := tx.Bucket(bucketHeaders).ForEach(func(k, v []byte) error {
		if len(k) != len(recordKey{}) || len(v) != HeaderSize+1 {
			return s.damage("header record %x: wrong size", k)
		}
		h, _ := DecodeHeader(v[:HeaderSize])
		if h.Index != binary.BigEndian.Uint64(k) || h.Hash() != recordKey(k).hash() {
			return s.damage("header record %x: does not match its key", k)
		}
		t.headers = append(t.headers, storedHeader{recordKey(k).hash(), h, v[HeaderSize]})
		return nil
	})
	if err != nil {
		return err
	}
	err = tx.Bucket(bucketMain).ForEach(func(k, v []byte) error {
		if len(k) != 8 || len(v) != 32 || binary.BigEndian.Uint64(k) != uint64(len(t.main)+1) {
			return s.damage("main chain record %x: wrong size or out of sequence", k)
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
			return s.damage("state record %x: wrong size", k)
		}
		t.state[Address(k)] = acct
		return nil
	})
}

// The store is only asked for blocks of the tree loaded from it (and for
// undo records of main-chain blocks): a record not there is damage too.

// storedBlock decodes a block record and checks it is the block its key
// names: the header hashes to the key and the transactions to the header's
// Merkle root (the genesis has no transactions: its root commits to the
// network's parameters). A record that is not is damage (bbolt keeps no checksums of
// its own), not a bad block from a peer.
func (s *Store) storedBlock(k recordKey, v []byte) (*Block, error) {
	b, err := DecodeBlock(v, 0)
	if err != nil {
		return nil, s.damage("block record %s: %v", k.hash(), err)
	}
	if b.Index != binary.BigEndian.Uint64(k[:8]) || b.Hash() != k.hash() || (len(b.Txs) > 0 && MerkleRoot(b.Txs) != b.MerkleRoot) {
		return nil, s.damage("block record %s: its content does not hash to its key", k.hash())
	}
	return b, nil
}

func (s *Store) block(k recordKey) (*Block, error) {
	var blk *Block
	err := s.guard("read block", func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			v := getRecord(tx.Bucket(bucketBlocks), k[:])
			if v == nil {
				return s.damage("block %s is in the stored tree but its record is missing", k.hash())
			}
			var err error
			blk, err = s.storedBlock(k, v)
			return err
		})
	})
	return blk, err
}

// blocksUpTo reads blocks in order in one read transaction, stopping before
// the one that would take the total encoded size over maxBytes (but always
// reading the first). maxBytes < 0 means no limit.
func (s *Store) blocksUpTo(ks []recordKey, maxBytes int) ([]*Block, error) {
	out := make([]*Block, 0, len(ks))
	err := s.guard("read blocks", func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			bk := tx.Bucket(bucketBlocks)
			size := 0
			for _, k := range ks {
				v := getRecord(bk, k[:])
				if v == nil {
					return s.damage("block %s is in the stored tree but its record is missing", k.hash())
				}
				if maxBytes >= 0 && len(out) > 0 && size+len(v) > maxBytes {
					return nil
				}
				b, err := s.storedBlock(k, v)
				if err != nil {
					return err
				}
				out = append(out, b)
				size += len(v)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// rawBlocksUpTo is blocksUpTo for a server: each block's stored encoding
// (which is its wire encoding) goes to each, valid only during the call,
// without decoding it; it returns how many went. A record is checked as
// storedBlock checks it (checkRawBlock), so damage is still an error and
// is never sent to a peer, which would take it for a bad block and ban us.
func (s *Store) rawBlocksUpTo(ks []recordKey, maxBytes int, each func(enc []byte)) (int, error) {
	sent := 0
	err := s.guard("read blocks", func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			bk := tx.Bucket(bucketBlocks)
			// A reply's blocks are mostly consecutive records: the cursor
			// steps to the next instead of searching from the root for
			// each (a third of serving a coinbase-only block).
			cur := bk.Cursor()
			var ck, cv []byte
			size := 0
			for i, k := range ks {
				if i > 0 && ck != nil {
					ck, cv = cur.Next()
				}
				if !bytes.Equal(ck, k[:]) {
					ck, cv = cur.Seek(k[:])
				}
				v := cv
				if !bytes.Equal(ck, k[:]) {
					v = nil
				} else if v == nil { // a large record: a nested bucket
					v = getRecord(bk, k[:])
				}
				if v == nil {
					return s.damage("block %s is in the stored tree but its record is missing", k.hash())
				}
				if maxBytes >= 0 && sent > 0 && size+len(v) > maxBytes {
					return nil
				}
				if err := s.checkRawBlock(k, v); err != nil {
					return err
				}
				each(v)
				sent++
				size += len(v)
			}
			return nil
		})
	})
	return sent, err
}

// checkRawBlock is storedBlock's check on the encoding itself: it parses
// as a block, its header is the one its key names, and its transactions
// hash to the header's Merkle root. Decoding a block only to encode it
// again was most of what serving a coinbase-only block cost.
func (s *Store) checkRawBlock(k recordKey, v []byte) error {
	bad := func(why string) error { return s.damage("block record %s: %s", k.hash(), why) }
	if len(v) < HeaderSize+1 {
		return bad("too short")
	}
	n, w := binary.Uvarint(v[HeaderSize:])
	rest := len(v) - HeaderSize - w
	if w <= 0 || w > maxTxCountPrefix || uvarintLen(n) != w || rest%TxSize != 0 || uint64(rest/TxSize) != n {
		return bad("its transaction count does not match its length")
	}
	if binary.BigEndian.Uint64(v) != binary.BigEndian.Uint64(k[:8]) || Hash(sha256.Sum256(v[:HeaderSize])) != k.hash() {
		return bad("its content does not hash to its key")
	}
	if n == 0 {
		return nil // the genesis: its root commits to the network's parameters
	}
	var levelBuf [smallBlockTxs]Hash
	level := levelBuf[:0]
	if n > smallBlockTxs {
		level = make([]Hash, 0, n)
	}
	txs := v[HeaderSize+w:]
	for i := range int(n) {
		level = append(level, sha256.Sum256(txs[i*TxSize:(i+1)*TxSize]))
	}
	if merkleRootOfIDs(level) != Hash(v[48:80]) {
		return bad("its content does not hash to its key")
	}
	return nil
}

func (s *Store) undoRecord(k recordKey) ([]undoEntry, error) {
	var undo []undoEntry
	err := s.guard("read undo record", func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			v := getRecord(tx.Bucket(bucketUndo), k[:])
			if v == nil {
				return s.damage("undo record of main-chain block %s is missing", k.hash())
			}
			var err error
			if undo, err = decodeUndo(v); err != nil {
				return s.damage("undo record of block %s: %v", k.hash(), err)
			}
			return nil
		})
	})
	return undo, err
}
