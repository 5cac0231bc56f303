package pow

import (
	"bytes"
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"hash"
	"reflect"
)

// NonceSize is the length of the nonce that ends every header: a big-endian
// uint64.
const NonceSize = 8

// nonceHasher computes SHA-256 of one header for many nonces, redoing only
// the work the nonce touches. The header is split at the last 64-byte block
// boundary before the nonce: the prefix is compressed once into a midstate,
// and per nonce only the tail is compressed — one block for a 92-byte
// header, two when the nonce straddles a boundary or the padding does not
// fit. A nonceHasher belongs to one goroutine and allocates nothing per hash.
type nonceHasher struct {
	h hash.Hash

	// fast is the path measured fastest (about 1.4× a one-block Sum256 with
	// SHA-NI): restore the midstate with a typed struct copy (what Clone
	// does, without its allocation), Write the tail already padded so the
	// digest compresses it directly, and read the state words — after the
	// last block they are the digest — with AppendBinary, skipping Sum's
	// copy and padding. It rests on the stdlib digest being a pointer to a
	// plain struct and on its marshaled layout, so newNonceHasher checks it
	// against sha256.Sum256 and otherwise falls back to the portable path.
	fast  bool
	dst   reflect.Value // *h
	mid   reflect.Value // the midstate, a value of h's struct type
	app   encoding.BinaryAppender
	block []byte // tail + padding + bit length: whole blocks
	out   []byte // AppendBinary output: 4-byte magic, then the digest

	// The portable path uses only documented hash behaviour: restore the
	// marshaled midstate, Write the raw tail, Sum.
	un     encoding.BinaryUnmarshaler
	state  []byte // marshaled midstate; nil if h cannot be marshaled
	prefix []byte // to rebuild the midstate when state is nil
	tail   []byte
	sum    [32]byte

	nonceAt int // offset of the nonce in block (fast) or tail (portable)
}

// Offset of the state words in the stdlib's marshaled SHA-256 digest.
const (
	stateMagic = "sha\x03"
	stateWords = len(stateMagic)
)

// newNonceHasher prepares to hash header (at least NonceSize bytes long,
// not modified) for varying nonces. allowFast false forces the portable
// path, for tests.
func newNonceHasher(header []byte, allowFast bool) *nonceHasher {
	prefixLen := (len(header) - NonceSize) / sha256.BlockSize * sha256.BlockSize
	w := &nonceHasher{h: sha256.New(), prefix: bytes.Clone(header[:prefixLen])}
	w.h.Write(w.prefix)

	if allowFast && w.initFast(header, prefixLen) {
		return w
	}

	w.fast = false
	w.h.Reset()
	w.h.Write(w.prefix)
	if app, ok := w.h.(encoding.BinaryAppender); ok {
		if un, ok := w.h.(encoding.BinaryUnmarshaler); ok {
			if st, err := app.AppendBinary(nil); err == nil {
				w.un, w.state = un, st
			}
		}
	}
	w.tail = bytes.Clone(header[prefixLen:])
	w.nonceAt = len(w.tail) - NonceSize
	return w
}

// initFast sets up the fast path, with h holding the midstate, and reports
// whether it hashes exactly like sha256.Sum256.
func (w *nonceHasher) initFast(header []byte, prefixLen int) bool {
	app, ok := w.h.(encoding.BinaryAppender)
	if !ok {
		return false
	}
	v := reflect.ValueOf(w.h)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct || !v.Elem().CanSet() {
		return false
	}
	// The state words are read from the marshaled digest: check its layout
	// before relying on it.
	st, err := app.AppendBinary(nil)
	if err != nil || len(st) < stateWords+32 || string(st[:stateWords]) != stateMagic {
		return false
	}
	w.dst = v.Elem()
	w.mid = reflect.New(w.dst.Type()).Elem()
	w.mid.Set(w.dst)
	w.app = app

	// SHA-256 padding: 0x80, zeros, then the message length in bits,
	// filling whole blocks.
	tail := header[prefixLen:]
	padded := (len(tail) + 1 + 8 + sha256.BlockSize - 1) / sha256.BlockSize * sha256.BlockSize
	w.block = make([]byte, padded)
	copy(w.block, tail)
	w.block[len(tail)] = 0x80
	binary.BigEndian.PutUint64(w.block[padded-8:], uint64(len(header))*8)
	w.nonceAt = len(tail) - NonceSize
	w.out = make([]byte, 0, 128) // marshaled state is 108 bytes: no growth
	w.fast = true

	// Two nonces that differ in every byte, checked against the reference.
	probe := bytes.Clone(header)
	for _, n := range []uint64{0, 0xa5c3_96f0_0f69_3c5a} {
		binary.BigEndian.PutUint64(probe[len(probe)-NonceSize:], n)
		if *w.hash(n) != sha256.Sum256(probe) {
			return false
		}
	}
	return true
}

// hash returns SHA-256 of the header with nonce n. The result is overwritten
// by the next call.
func (w *nonceHasher) hash(n uint64) *[32]byte {
	if w.fast {
		binary.BigEndian.PutUint64(w.block[w.nonceAt:], n)
		w.dst.Set(w.mid)
		w.h.Write(w.block)
		w.out, _ = w.app.AppendBinary(w.out[:0])
		return (*[32]byte)(w.out[stateWords : stateWords+32])
	}

	binary.BigEndian.PutUint64(w.tail[w.nonceAt:], n)
	if w.state != nil {
		_ = w.un.UnmarshalBinary(w.state) // it produced state: cannot fail
	} else {
		w.h.Reset()
		w.h.Write(w.prefix)
	}
	w.h.Write(w.tail)
	w.h.Sum(w.sum[:0])
	return &w.sum
}
