package chain

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"math/bits"
	"os"
	"path/filepath"
	"runtime/debug"
)

// ErrStoreDamaged marks a store file that cannot be read as written: cut
// short, overwritten, or pages that bbolt cannot follow. The error carrying
// it is a *StoreDamageError, which names the file and the way out.
var ErrStoreDamaged = errors.New("chain store damaged")

// StoreDamageError is a damaged store: which file and what is wrong.
type StoreDamageError struct {
	Path    string // the store file
	Problem string // what is wrong, in a few words
}

func (e *StoreDamageError) Error() string {
	return fmt.Sprintf("chain store %s is damaged: %s (the wallet and node keys are separate files, not affected; "+
		"to sync the chain again from peers, stop the node and run: gossipchain store reset --data-dir %s)",
		e.Path, e.Problem, filepath.Dir(e.Path))
}

// Is makes errors.Is(err, ErrStoreDamaged) hold.
func (e *StoreDamageError) Is(target error) bool { return target == ErrStoreDamaged }

func (s *Store) damage(format string, args ...any) error {
	return &StoreDamageError{Path: s.path, Problem: fmt.Sprintf(format, args...)}
}

// guard runs one access to the bbolt file. A panic or a memory fault in it
// (bbolt maps the file: a page past the end of a cut file is SIGBUS, a page
// number overwritten with garbage points anywhere, and bbolt panics on a
// page of the wrong type) becomes a StoreDamageError instead of killing the
// process, and the store refuses every later access: bbolt's state after a
// panic is unknown. runtime/debug.SetPanicOnFault is per goroutine, so it
// is set here, on the goroutine doing the access.
func (s *Store) guard(op string, fn func() error) (err error) {
	if d := s.damaged.Load(); d != nil {
		return d
	}
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			what := fmt.Sprint(r)
			if f, ok := r.(interface{ Addr() uintptr }); ok {
				what = fmt.Sprintf("memory fault at %#x reading the mapped file (cut short, or a page number overwritten)", f.Addr())
			}
			err = s.markDamaged(s.damage("%s: %s", op, what).(*StoreDamageError))
		}
	}()
	err = fn()
	var d *StoreDamageError
	if errors.As(err, &d) && s.log != nil {
		s.log.Error("chain store damaged", "err", err)
	}
	return err
}

// markDamaged records the first fault; every later access returns it.
func (s *Store) markDamaged(d *StoreDamageError) error {
	if s.damaged.CompareAndSwap(nil, d) && s.log != nil {
		s.log.Error("chain store damaged: refusing further reads and writes", "err", d)
	}
	return s.damaged.Load()
}

// asDamage turns a load error about the stored records (ErrMalformed: a
// record of the wrong size, a block without its parent, a main chain that
// does not link) into a StoreDamageError; other errors pass unchanged.
func (s *Store) asDamage(err error) error {
	if err == nil || errors.Is(err, ErrStoreDamaged) || !errors.Is(err, ErrMalformed) {
		return err
	}
	return &StoreDamageError{Path: s.path, Problem: err.Error()}
}

// bbolt's on-disk format (go.etcd.io/bbolt internal/common, format version
// 2), read without mapping the file. Fields are in the machine's byte
// order, as bbolt writes them.
const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	boltPageHeader   = 16 // id u64, flags u16, count u16, overflow u32
	boltMetaSize     = 64 // magic, version, pageSize, flags u32; root bucket {pgid, sequence}; freelist, pgid, txid, checksum u64
	boltMetaSummed   = 56 // the checksum is FNV-64a of the fields before it
	boltBranchPage   = 0x01
	boltLeafPage     = 0x02
	boltFreelistPage = 0x10
	boltNoFreelist   = ^uint64(0)
)

type boltMeta struct {
	magic, version, pageSize uint32
	root, freelist, pgid     uint64
	txid                     uint64
}

// parseBoltMeta reads the meta of the page starting at b and says what is
// wrong with it, in bbolt's order: magic, version, checksum.
func parseBoltMeta(b []byte) (boltMeta, error) {
	if len(b) < boltPageHeader+boltMetaSize {
		return boltMeta{}, errors.New("cut short")
	}
	m := b[boltPageHeader : boltPageHeader+boltMetaSize]
	le := binary.NativeEndian
	meta := boltMeta{
		magic:    le.Uint32(m[0:]),
		version:  le.Uint32(m[4:]),
		pageSize: le.Uint32(m[8:]),
		root:     le.Uint64(m[16:]),
		freelist: le.Uint64(m[32:]),
		pgid:     le.Uint64(m[40:]),
		txid:     le.Uint64(m[48:]),
	}
	switch {
	case meta.magic != boltMagic:
		return meta, fmt.Errorf("magic %#x, not a bbolt file", meta.magic)
	case meta.version != boltVersion:
		return meta, fmt.Errorf("bbolt format version %d, this build reads %d", meta.version, boltVersion)
	}
	h := fnv.New64a()
	h.Write(m[:boltMetaSummed])
	if h.Sum64() != le.Uint64(m[boltMetaSummed:]) {
		return meta, errors.New("checksum mismatch")
	}
	return meta, nil
}

// checkStoreFile checks a store file before bbolt maps it, by reading its
// two meta pages, its freelist page and the header of its root page:
// everything bbolt would follow at open. A file cut short would otherwise
// be mapped past its end, and the first read there is a SIGBUS that kills
// the process. A missing file is fine (it is created); an empty one is not
// (a store is never empty once created: bbolt writes four pages at once).
func checkStoreFile(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("store %s: %w", path, err)
	}
	damaged := func(format string, args ...any) error {
		return &StoreDamageError{Path: path, Problem: fmt.Sprintf(format, args...)}
	}
	size := info.Size()
	if size == 0 {
		return damaged("the file is empty (0 bytes)")
	}
	readAt := func(n int, off int64) ([]byte, error) {
		b := make([]byte, n)
		k, err := f.ReadAt(b, off)
		if errors.Is(err, io.EOF) {
			err = nil
		}
		return b[:k], err
	}

	// The page size is in the meta pages, which sit in pages 0 and 1; as
	// bbolt does, take it from page 0, else look for page 1 at each
	// possible page size.
	first, err := readAt(boltPageHeader+boltMetaSize, 0)
	if err != nil {
		return fmt.Errorf("store %s: %w", path, err)
	}
	m0, err0 := parseBoltMeta(first)
	pageSize := int64(m0.pageSize)
	if err0 != nil {
		pageSize = 0
		for i := range 15 {
			pos := int64(1024) << i
			if pos+boltPageHeader+boltMetaSize > size {
				break
			}
			b, err := readAt(boltPageHeader+boltMetaSize, pos)
			if err != nil {
				return fmt.Errorf("store %s: %w", path, err)
			}
			if m, err := parseBoltMeta(b); err == nil && int64(m.pageSize) == pos {
				pageSize = pos
				break
			}
		}
		if pageSize == 0 {
			if size < boltPageHeader+boltMetaSize {
				return damaged("the file is %d bytes, too short to hold a bbolt meta page", size)
			}
			return damaged("no valid bbolt meta page (page 0: %v)", err0)
		}
	}
	if pageSize < 512 || pageSize > 1<<24 || bits.OnesCount64(uint64(pageSize)) != 1 {
		return damaged("meta page gives a page size of %d bytes", pageSize)
	}
	if size < 2*pageSize {
		return damaged("the file is %d bytes, shorter than its two meta pages (%d bytes): it was cut short", size, 2*pageSize)
	}
	second, err := readAt(boltPageHeader+boltMetaSize, pageSize)
	if err != nil {
		return fmt.Errorf("store %s: %w", path, err)
	}
	m1, err1 := parseBoltMeta(second)
	if err0 == nil && err1 == nil && m1.pageSize != m0.pageSize {
		return damaged("meta pages disagree on the page size (%d and %d)", m0.pageSize, m1.pageSize)
	}
	// bbolt uses the valid meta page with the higher transaction id.
	m := m0
	switch {
	case err0 != nil && err1 != nil:
		return damaged("both bbolt meta pages are invalid (page 0: %v; page 1: %v)", err0, err1)
	case err0 != nil || (err1 == nil && m1.txid > m0.txid):
		m = m1
	}

	pages := uint64(size / pageSize)
	switch {
	case m.pgid < 3:
		return damaged("meta page gives a high-water mark of %d pages", m.pgid)
	case m.pgid > pages:
		return damaged("the file is %d bytes but its meta page counts %d pages of %d bytes (%d bytes): it was cut short",
			size, m.pgid, pageSize, m.pgid*uint64(pageSize))
	case m.root < 2 || m.root >= m.pgid:
		return damaged("root page %d outside pages 2..%d", m.root, m.pgid-1)
	case m.freelist != boltNoFreelist && (m.freelist < 2 || m.freelist >= m.pgid):
		return damaged("freelist page %d outside pages 2..%d", m.freelist, m.pgid-1)
	}

	root, err := readAt(boltPageHeader, int64(m.root)*pageSize)
	if err != nil {
		return fmt.Errorf("store %s: %w", path, err)
	}
	if id, flags := binary.NativeEndian.Uint64(root), binary.NativeEndian.Uint16(root[8:]); id != m.root || (flags != boltBranchPage && flags != boltLeafPage) {
		return damaged("root page %d has id %d and type %#x: overwritten", m.root, id, flags)
	}

	if m.freelist == boltNoFreelist {
		return nil
	}
	// The freelist is read whole at open: a garbage count would have bbolt
	// allocate without bound.
	hdr, err := readAt(boltPageHeader+8, int64(m.freelist)*pageSize)
	if err != nil {
		return fmt.Errorf("store %s: %w", path, err)
	}
	if len(hdr) < boltPageHeader+8 {
		return damaged("freelist page %d cut short", m.freelist)
	}
	le := binary.NativeEndian
	id, flags, count, overflow := le.Uint64(hdr), le.Uint16(hdr[8:]), uint64(le.Uint16(hdr[10:])), uint64(le.Uint32(hdr[12:]))
	if id != m.freelist || flags != boltFreelistPage {
		return damaged("freelist page %d has id %d and type %#x: overwritten", m.freelist, id, flags)
	}
	if m.freelist+overflow >= m.pgid {
		return damaged("freelist page %d runs over %d pages, past the high-water mark %d", m.freelist, overflow+1, m.pgid)
	}
	start := uint64(boltPageHeader)
	if count == 0xFFFF { // the real count is the first element
		count, start = le.Uint64(hdr[boltPageHeader:]), start+8
	}
	span := (overflow + 1) * uint64(pageSize)
	if count > (span-start)/8 {
		return damaged("freelist page %d claims %d free pages, more than it holds", m.freelist, count)
	}
	ids, err := readAt(int(count*8), int64(m.freelist)*pageSize+int64(start))
	if err != nil {
		return fmt.Errorf("store %s: %w", path, err)
	}
	if uint64(len(ids)) != count*8 {
		return damaged("freelist page %d cut short", m.freelist)
	}
	for i := range count {
		if p := le.Uint64(ids[i*8:]); p < 2 || p >= m.pgid {
			return damaged("freelist lists page %d, outside pages 2..%d", p, m.pgid-1)
		}
	}
	return nil
}
