package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDamagedStore damages the chain store of a real data directory: the
// node must exit 1 with the message (not a SIGBUS or a panic), `store
// check` must say damaged, `store reset` must move it aside, and the next
// start must work — with the wallet and node key files byte-identical
// throughout.
func TestDamagedStore(t *testing.T) {
	for _, c := range []struct {
		name   string
		damage func(t *testing.T, path string, used int64, ps int)
	}{
		{"truncated", func(t *testing.T, path string, used int64, ps int) {
			if err := os.Truncate(path, used/2); err != nil {
				t.Fatal(err)
			}
		}},
		// Every data page but the root and freelist pages, which the
		// check before mapping reads: this damage is found by reading.
		{"random-pages", func(t *testing.T, path string, used int64, ps int) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			keep := map[int64]bool{}
			for _, off := range []int{0, ps} {
				keep[int64(binary.NativeEndian.Uint64(data[off+16+16:]))] = true // root
				keep[int64(binary.NativeEndian.Uint64(data[off+16+32:]))] = true // freelist
			}
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			rng := rand.New(rand.NewPCG(1, 2))
			junk := make([]byte, ps)
			for page := int64(2); page*int64(ps) < used; page++ {
				if keep[page] {
					continue
				}
				for i := range junk {
					junk[i] = byte(rng.Uint32())
				}
				if _, err := f.WriteAt(junk, page*int64(ps)); err != nil {
					t.Fatal(err)
				}
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			p := startNode(t, "node", dir, "--mine")
			waitFor(t, "40 mined blocks", 60*time.Second, func() bool { return headIndex(p) >= 40 })
			if code := p.signal(syscall.SIGTERM); code != 0 {
				t.Fatalf("first run: exit %d", code)
			}
			keys := map[string][]byte{}
			for _, f := range []string{"wallet.key", "node.key"} {
				b, err := os.ReadFile(filepath.Join(dir, f))
				if err != nil {
					t.Fatal(err)
				}
				keys[f] = b
			}
			path := filepath.Join(dir, "chain.db")
			used, ps := storeUsed(t, path)
			c.damage(t, path, used, ps)

			code, out, errOut := runCmd(t, nil, nodeArgs(dir)...)
			t.Logf("start on the damaged store: %s", strings.SplitN(errOut, "\n", 2)[0])
			for _, want := range []string{"chain store " + path + " is damaged", "wallet.key", "node.key", "not touched", "gossipchain store reset --data-dir " + dir} {
				if !strings.Contains(errOut, want) {
					t.Errorf("start on a damaged store: stderr lacks %q", want)
				}
			}
			if code != 1 || out != "" || strings.Contains(errOut, "goroutine ") {
				t.Errorf("start on a damaged store: exit %d, stdout %q, stderr:\n%s", code, out, errOut)
			}
			if code, _, errOut := runCmd(t, nil, "store", "check", "--data-dir", dir); code != 1 || !strings.Contains(errOut, "damaged") {
				t.Errorf("store check: exit %d, stderr %q; want 1 and damaged", code, errOut)
			}
			code, out, errOut = runCmd(t, nil, "store", "reset", "--data-dir", dir)
			if code != 0 || !strings.Contains(out, "chain.db.damaged-") {
				t.Fatalf("store reset: exit %d, stdout %q, stderr %q", code, out, errOut)
			}
			moved, _ := filepath.Glob(filepath.Join(dir, "chain.db.damaged-*"))
			if _, err := os.Stat(path); !os.IsNotExist(err) || len(moved) != 1 {
				t.Errorf("after reset: chain.db %v, moved %v", err, moved)
			}

			p2 := startNode(t, "node again", dir)
			if h := p2.get("head"); !strings.HasPrefix(h, "1 ") {
				t.Errorf("restarted at head %q, want the genesis", h)
			}
			p2.stop()
			if code, out, errOut := runCmd(t, nil, "store", "check", "--data-dir", dir); code != 0 || !strings.HasPrefix(out, "ok: ") {
				t.Errorf("store check of the new store: exit %d, stdout %q, stderr %q", code, out, errOut)
			}
			for f, want := range keys {
				got, err := os.ReadFile(filepath.Join(dir, f))
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s changed (%v)", f, err)
				}
			}
		})
	}
}

// headIndex asks the node's /health for its head index (0 on failure).
func headIndex(p *proc) uint64 {
	resp, err := http.Get(p.url() + "/health")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var h struct {
		Index uint64 `json:"index"`
	}
	json.NewDecoder(resp.Body).Decode(&h)
	return h.Index
}

// storeUsed reads the bbolt meta pages: the bytes in use (high-water mark
// times page size; bbolt preallocates beyond it) and the page size.
func storeUsed(t *testing.T, path string) (int64, int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Meta: page header 16 bytes, then magic, version, pageSize u32, flags
	// u32, root {pgid, seq}, freelist, pgid, txid.
	ps := int(binary.NativeEndian.Uint32(data[16+8:]))
	var used int64
	for _, off := range []int{0, ps} {
		hwm := int64(binary.NativeEndian.Uint64(data[off+16+40:]))
		used = max(used, hwm*int64(ps))
	}
	if used < int64(4*ps) {
		t.Fatalf("store of %d bytes in use: too small to damage meaningfully", used)
	}
	return used, ps
}
