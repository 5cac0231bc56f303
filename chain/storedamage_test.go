package chain

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/pow"
	bolt "go.etcd.io/bbolt"
)

// damageChildEnv tells the test binary, re-executed by the damage tests, to
// run TestDamageChild on the store file it names: a SIGBUS or a panic
// there kills the child, which the parent reports as a failure, instead
// of killing the test binary.
const damageChildEnv = "GOSSIPCHAIN_DAMAGE_CHILD_STORE"

// noPreCheckEnv has the child skip checkStoreFile, so that only guard
// stands between a fault and a crash.
const noPreCheckEnv = "GOSSIPCHAIN_DAMAGE_CHILD_NO_PRECHECK"

// damageFixture builds a store of 60 blocks with transfers (several pages
// in each bucket; every fifth block, of 20 transfers, and its undo record
// large enough to be a nested bucket) and returns its bytes.
func damageFixture(t *testing.T) []byte {
	t.Helper()
	dir := t.TempDir()
	p := TestParams()
	now := p.GenesisTime.Add(10 * 365 * 24 * time.Hour)
	c, err := Open(filepath.Join(dir, "chain.db"), Options{Params: p, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	g := newBlockGen(p)
	var blocks []*Block
	for i := range 60 {
		n := 6
		if i%5 == 4 {
			n = 20
		}
		blocks = append(blocks, g.next(t, n))
	}
	if n, _, err := c.AddBlocks(blocks); err != nil || n != len(blocks) {
		t.Fatalf("fixture: %d blocks, %v", n, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "chain.db"))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// exerciseStore is what the child does with a store: open it, read every
// main-chain block and undo record, and add a block.
func exerciseStore(path string) error {
	p := TestParams()
	now := p.GenesisTime.Add(20 * 365 * 24 * time.Hour)
	c, err := Open(path, Options{Params: p, Now: func() time.Time { return now }})
	if err != nil {
		return err
	}
	defer c.Close()
	tip := c.Tip()
	for i := uint64(1); i <= tip.Index; i++ {
		b, err := c.BlockByIndex(i)
		if err != nil {
			return err
		}
		if i > 1 {
			if _, err := c.store.undoRecord(keyOf(i, b.Hash())); err != nil {
				return err
			}
		}
	}
	if _, err := c.MainBlocks(1, int(tip.Index)); err != nil {
		return err
	}
	b := c.NewBlockTemplate(wallet(9).Address())
	target, err := pow.TargetFromBits(b.Bits)
	if err != nil {
		return err
	}
	for h := [32]byte(b.Hash()); !pow.HashMeetsTarget(&h, target); h = [32]byte(b.Hash()) {
		b.Nonce++
	}
	_, err = c.AddBlock(b)
	return err
}

// runtimeDamageEnv has the child cut the store short while it is open.
const runtimeDamageEnv = "GOSSIPCHAIN_DAMAGE_CHILD_RUNTIME"

// exerciseRuntimeDamage opens a sound store, cuts the file to half of what
// is in use under the open store, then reads every block: the reads must
// fail (SIGBUS turned into ErrStoreDamaged), the chain in memory must still
// answer, and a write must be refused with the way out.
func exerciseRuntimeDamage(path string) error {
	p := TestParams()
	now := p.GenesisTime.Add(20 * 365 * 24 * time.Hour)
	c, err := Open(path, Options{Params: p, Now: func() time.Time { return now }})
	if err != nil {
		return fmt.Errorf("open of the sound store: %v", err) // not damage: the parent fails
	}
	defer c.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	m0, _ := parseBoltMeta(data)
	m1, _ := parseBoltMeta(data[os.Getpagesize():])
	if err := os.Truncate(path, int64(max(m0.pgid, m1.pgid))*int64(os.Getpagesize())/2); err != nil {
		return err
	}
	tip := c.Tip()
	var readErr error
	for i := uint64(1); i <= tip.Index && readErr == nil; i++ {
		_, readErr = c.BlockByIndex(i)
	}
	if !errors.Is(readErr, ErrStoreDamaged) {
		return fmt.Errorf("reads after the cut: %v", readErr)
	}
	if c.Tip().Hash != tip.Hash {
		return errors.New("tip changed")
	}
	b := c.NewBlockTemplate(wallet(9).Address())
	target, _ := pow.TargetFromBits(b.Bits)
	for h := [32]byte(b.Hash()); !pow.HashMeetsTarget(&h, target); h = [32]byte(b.Hash()) {
		b.Nonce++
	}
	_, err = c.AddBlock(b)
	if err == nil || !strings.Contains(err.Error(), "store reset") {
		return fmt.Errorf("write after the cut: %v", err)
	}
	return err
}

// TestStoreDamagedWhileOpen: a store cut short under a running chain gives
// errors on reads and writes, never a crash.
func TestStoreDamagedWhileOpen(t *testing.T) {
	r := runDamageChild(t, damageFixture(t), runtimeDamageEnv+"=1")
	t.Logf("%.300s", r)
	if !strings.HasPrefix(r, "damaged ") {
		t.Errorf("%q, want damaged", r)
	}
}

// TestDamageChild is the child of the damage tests.
func TestDamageChild(t *testing.T) {
	path := os.Getenv(damageChildEnv)
	if path == "" {
		t.Skip("run by the store damage tests")
	}
	if os.Getenv(noPreCheckEnv) != "" {
		preCheck = func(string) error { return nil }
	}
	var err error
	if os.Getenv(runtimeDamageEnv) != "" {
		err = exerciseRuntimeDamage(path)
	} else {
		err = exerciseStore(path)
	}
	line := "ok"
	switch {
	case errors.Is(err, ErrStoreDamaged):
		line = "damaged " + err.Error()
	case err != nil:
		line = "error " + err.Error()
	}
	fmt.Printf("RESULT %s\n", strings.ReplaceAll(line, "\n", " "))
}

// runDamageChild runs TestDamageChild on the file holding data and returns
// its RESULT line ("ok", "damaged ...", "error ..."). A child that dies
// (SIGBUS, panic) fails the test.
func runDamageChild(t *testing.T, data []byte, env ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "chain.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestDamageChild$", "-test.count=1")
	cmd.Env = append(append(os.Environ(), damageChildEnv+"="+path), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		if r, ok := strings.CutPrefix(sc.Text(), "RESULT "); ok && err == nil {
			return r
		}
	}
	t.Errorf("child crashed on the damaged store (%v)\nstdout tail: %s\nstderr tail: %s", err, tail(stdout.String(), 1500), tail(stderr.String(), 1500))
	return ""
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// TestStoreTruncated: a store cut short at any length is a clear
// ErrStoreDamaged naming the file, never a SIGBUS.
func TestStoreTruncated(t *testing.T) {
	data := damageFixture(t)
	ps := os.Getpagesize()
	// bbolt grows the file 16 MB at a time: what is in use ends at the
	// high-water mark of the newer meta page.
	m0, err0 := parseBoltMeta(data)
	m1, err1 := parseBoltMeta(data[ps:])
	if err0 != nil || err1 != nil {
		t.Fatalf("fixture meta pages: %v, %v", err0, err1)
	}
	used := int(max(m0.pgid, m1.pgid)) * ps
	for _, n := range []int{0, ps / 2, ps, 2 * ps, used / 2, used - ps} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			r := runDamageChild(t, data[:n])
			if !strings.HasPrefix(r, "damaged ") || !strings.Contains(r, "chain.db") || !strings.Contains(r, "store reset") {
				t.Errorf("store cut to %d of %d bytes in use: %q, want damaged with the file and the way out", n, used, r)
			}
		})
	}
}

// TestStoreTruncatedGuard cuts the store inside its data pages and opens
// it without checkStoreFile: bbolt maps past the end of the file, the
// first read there faults (SIGBUS), and guard must turn it into
// ErrStoreDamaged.
func TestStoreTruncatedGuard(t *testing.T) {
	data := damageFixture(t)
	ps := os.Getpagesize()
	m0, _ := parseBoltMeta(data)
	m1, _ := parseBoltMeta(data[ps:])
	used := int(max(m0.pgid, m1.pgid)) * ps
	for _, n := range []int{used / 2, used - ps} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			r := runDamageChild(t, data[:n], noPreCheckEnv+"=1")
			if !strings.HasPrefix(r, "damaged ") {
				t.Errorf("store cut to %d of %d bytes, no pre-check: %q, want damaged", n, used, r)
			}
			t.Logf("%.300s", r)
		})
	}
}

// livePages lists the store's pages in use (branch and leaf pages), read
// from the intact file.
func livePages(t *testing.T, data []byte) []int {
	t.Helper()
	path := filepath.Join(t.TempDir(), "chain.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var live []int
	db.View(func(tx *bolt.Tx) error {
		for id := 2; ; id++ {
			info, err := tx.Page(id)
			if err != nil {
				t.Fatal(err)
			}
			if info == nil {
				return nil
			}
			if info.Type == "leaf" || info.Type == "branch" {
				live = append(live, id)
			}
		}
	})
	return live
}

// TestStoreRandomBytes writes random bytes (fixed seed) over pages in use:
// whole pages and page headers must be found damaged; a few bytes inside a
// page may land where nothing checks them (bbolt keeps no checksums) but
// must never crash the process.
func TestStoreRandomBytes(t *testing.T) {
	data := damageFixture(t)
	ps := os.Getpagesize()
	live := livePages(t, data)
	if len(live) < 8 {
		t.Fatalf("fixture has %d live pages, want more", len(live))
	}
	rng := rand.New(rand.NewPCG(9, 9))
	for i := range 12 {
		page := live[rng.IntN(len(live))]
		off, n, mode := page*ps, ps, "whole page"
		switch i % 3 {
		case 1:
			n, mode = 16, "page header"
		case 2:
			off, n, mode = off+16+rng.IntN(ps-16-64), 64, "64 bytes inside"
		}
		t.Run(fmt.Sprintf("%d-%s-page%d", i, strings.ReplaceAll(mode, " ", "_"), page), func(t *testing.T) {
			d := bytes.Clone(data)
			for k := off; k < off+n; k++ {
				d[k] = byte(rng.Uint32())
			}
			r := runDamageChild(t, d)
			t.Logf("%s of page %d: %.200s", mode, page, r)
			if strings.HasPrefix(r, "error ") || (mode != "64 bytes inside" && r == "ok") {
				t.Errorf("%s of page %d overwritten: %q, want damaged", mode, page, r)
			}
		})
	}
}

// TestStoreMetaPages: wrong magic, wrong version, both meta pages
// overwritten; one meta page overwritten is survivable (bbolt falls back
// to the other).
func TestStoreMetaPages(t *testing.T) {
	data := damageFixture(t)
	ps := os.Getpagesize()
	for _, c := range []struct {
		name    string
		damage  func(d []byte)
		damaged bool
		substr  string
	}{
		{"magic", func(d []byte) { d[16] ^= 0xff; d[ps+16] ^= 0xff }, true, "not a bbolt file"},
		{"version", func(d []byte) { d[20] = 9; d[ps+20] = 9 }, true, "version"},
		{"both", func(d []byte) {
			copy(d[16:80], bytes.Repeat([]byte{7}, 64))
			copy(d[ps+16:ps+80], bytes.Repeat([]byte{7}, 64))
		}, true, "chain.db"},
		{"meta0 only", func(d []byte) { copy(d[16:80], bytes.Repeat([]byte{7}, 64)) }, false, ""},
		{"meta1 only", func(d []byte) { copy(d[ps+16:ps+80], bytes.Repeat([]byte{7}, 64)) }, false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := bytes.Clone(data)
			c.damage(d)
			r := runDamageChild(t, d)
			if c.damaged && (!strings.HasPrefix(r, "damaged ") || !strings.Contains(r, c.substr)) {
				t.Errorf("%q, want damaged and %q", r, c.substr)
			}
			if !c.damaged && r != "ok" {
				t.Errorf("%q, want ok", r)
			}
		})
	}
}

// FuzzOpenStore opens arbitrary bytes as a store. checkStoreFile must
// never panic, and a file it passes must open (or fail) as an error: every
// fault inside bbolt is recovered by guard.
func FuzzOpenStore(f *testing.F) {
	dir := f.TempDir()
	c, err := Open(filepath.Join(dir, "seed.db"), Options{Params: TestParams()})
	if err != nil {
		f.Fatal(err)
	}
	c.Close()
	seed, err := os.ReadFile(filepath.Join(dir, "seed.db"))
	if err != nil {
		f.Fatal(err)
	}
	m0, _ := parseBoltMeta(seed)
	seed = seed[:m0.pgid*uint64(os.Getpagesize())] // not bbolt's 16 MB of preallocation
	f.Add(seed)
	f.Add(seed[:len(seed)/2])
	f.Add(seed[:4096])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 {
			return // a missing file and an empty one are tested elsewhere
		}
		path := filepath.Join(t.TempDir(), "chain.db")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := openStore(path, true)
		if err != nil {
			return
		}
		defer s.Close()
		if _, err := s.load(); err != nil {
			return
		}
		s.blocksUpTo([]recordKey{keyOf(1, Genesis(TestParams()).Hash())}, -1)
	})
}

// TestCheckStore: a sound store checks OK; overwritten pages are found,
// including bytes inside a page that a node's reads may not touch.
func TestCheckStore(t *testing.T) {
	data := damageFixture(t)
	ps := os.Getpagesize()
	m0, _ := parseBoltMeta(data)
	m1, _ := parseBoltMeta(data[ps:])
	data = data[:int(max(m0.pgid, m1.pgid))*ps] // the pages in use: the rest is bbolt's preallocation
	dir := t.TempDir()
	path := filepath.Join(dir, "chain.db")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := CheckStore(path)
	if err != nil || r.Height != 61 || r.Blocks != 61 || r.Empty {
		t.Fatalf("sound store: %+v, %v", r, err)
	}
	live := livePages(t, data)
	found := 0
	for i, page := range live {
		d := bytes.Clone(data)
		copy(d[page*ps+ps/2:], bytes.Repeat([]byte{0xA5}, 64))
		p := filepath.Join(dir, fmt.Sprintf("d%d.db", i))
		if err := os.WriteFile(p, d, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := CheckStore(p); errors.Is(err, ErrStoreDamaged) {
			found++
		} else if err != nil {
			t.Errorf("page %d: %v, want ErrStoreDamaged or nil", page, err)
		}
	}
	t.Logf("64 bytes in the middle of each of %d live pages: %d found damaged", len(live), found)
	if found == 0 {
		t.Error("no overwritten page found damaged")
	}
}

// TestCheckStoreCost measures the full check on a store of 10,000 blocks
// (GOSSIPCHAIN_CHECK_COST=1; it takes a while to build).
func TestCheckStoreCost(t *testing.T) {
	if os.Getenv("GOSSIPCHAIN_CHECK_COST") == "" {
		t.Skip("set GOSSIPCHAIN_CHECK_COST=1")
	}
	p := TestParams()
	c := benchChain(t, p, Options{})
	g := newBlockGen(p)
	for range 10 {
		var batch []*Block
		for range 1000 {
			batch = append(batch, g.next(t, 4))
		}
		if n, _, err := c.AddBlocks(batch); err != nil || n != len(batch) {
			t.Fatalf("%d, %v", n, err)
		}
	}
	path := c.store.path
	c.Close()
	info, _ := os.Stat(path)
	start := time.Now()
	if err := checkStoreFile(path); err != nil {
		t.Fatal(err)
	}
	pre := time.Since(start)
	start = time.Now()
	now := p.GenesisTime.Add(10 * 365 * 24 * time.Hour)
	c2, err := Open(path, Options{Params: p, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	open := time.Since(start)
	c2.Close()
	r, err := CheckStore(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d blocks, file %d MB: pre-check %v, Open %v, full check %v (bbolt tx.Check %v)",
		r.Height, info.Size()>>20, pre, open, r.Took, r.BoltCheck)
}
