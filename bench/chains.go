package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	"github.com/gossipchain/gossipchain/pow"
)

// Generated chains. Big chains are built once into Options.CacheDir, named
// by their parameters and shape, and copied into a fresh data directory for
// each run. They are valid chains of the bench network, built through
// chain.AddBlocks (so every rule was checked once), with deterministic keys
// and timestamps exactly TargetSpacing apart from the genesis, so that
// retargeting keeps the initial difficulty. (A chain of 100,000 blocks ends
// 11.6 days after the genesis time: a clock before that would refuse its
// last blocks as being from the future.)

// chainShape says what a generated chain holds.
type chainShape struct {
	kind   string // "transfers" or "funded"
	blocks int    // after the genesis
	// transfers: txs signed transfers per block, from the second block on,
	// by the miner of every block to 1,000 rotating recipients.
	txs int
	// funded: the coinbase of block i (1 ≤ i ≤ blocks) pays fundedWallet(i-1);
	// no transfers.
}

func (s chainShape) name(p chain.Params) string {
	return fmt.Sprintf("%s-%08x-r%d-%s-%d-%d", p.Name, p.InitialBits, p.RetargetInterval, s.kind, s.blocks, s.txs)
}

// chainMeta is written next to a finished chain: its presence marks the
// cache entry as complete.
type chainMeta struct {
	Shape   string    `json:"shape"`
	Tip     string    `json:"tip"`
	Index   uint64    `json:"index"`
	Txs     int       `json:"txs"` // signed transfers in all
	Built   time.Time `json:"built"`
	Seconds float64   `json:"build_seconds"`
}

const (
	minerSeed     = 42
	recipientBase = 1 << 20 // seeds of transfer recipients
	fundedBase    = 2 << 20 // seeds of funded senders
	recipients    = 1000
)

func seedWallet(n int) *chain.Wallet {
	var s [32]byte
	s[0], s[1], s[2], s[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	s[31] = 0xbe
	return chain.WalletFromSeed(s)
}

func fundedWallet(i int) *chain.Wallet { return seedWallet(fundedBase + i) }

// cachedChain returns the directory of a generated chain (chain.db and
// meta.json), building it first if the cache does not hold it.
func cachedChain(ctx context.Context, o *Options, s chainShape) (string, chainMeta, error) {
	p := o.params()
	dir := filepath.Join(o.CacheDir, s.name(p))
	if meta, err := readMeta(dir); err == nil {
		return dir, meta, nil
	}
	if err := os.MkdirAll(o.CacheDir, 0o755); err != nil {
		return "", chainMeta{}, err
	}
	tmp, err := os.MkdirTemp(o.CacheDir, ".build-*")
	if err != nil {
		return "", chainMeta{}, err
	}
	defer os.RemoveAll(tmp)
	o.logf("building %s (cached for later runs in %s)", s.name(p), o.CacheDir)
	start := time.Now()
	meta, err := buildChain(ctx, filepath.Join(tmp, "chain.db"), p, s)
	if err != nil {
		return "", chainMeta{}, err
	}
	meta.Shape, meta.Built, meta.Seconds = s.name(p), time.Now().UTC(), round(time.Since(start).Seconds(), 2)
	b, _ := json.MarshalIndent(meta, "", "  ")
	if err := os.WriteFile(filepath.Join(tmp, "meta.json"), b, 0o644); err != nil {
		return "", chainMeta{}, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		// Another run may have finished the same chain first.
		if meta, err2 := readMeta(dir); err2 == nil {
			return dir, meta, nil
		}
		return "", chainMeta{}, err
	}
	o.logf("built %s in %.1f s", s.name(p), meta.Seconds)
	return dir, meta, nil
}

func readMeta(dir string) (chainMeta, error) {
	var m chainMeta
	b, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, err
	}
	if _, err := os.Stat(filepath.Join(dir, "chain.db")); err != nil {
		return m, err
	}
	return m, nil
}

// buildChain writes the chain into a new store at path.
func buildChain(ctx context.Context, path string, p chain.Params, s chainShape) (chainMeta, error) {
	// The store's clock: far enough after the genesis for any timestamp
	// generated here, whatever the machine's date.
	now := p.GenesisTime.Add(time.Duration(s.blocks+10) * p.TargetSpacing)
	if t := time.Now(); t.After(now) {
		now = t
	}
	c, err := chain.Open(path, chain.Options{Params: p, Now: func() time.Time { return now }})
	if err != nil {
		return chainMeta{}, err
	}
	defer c.Close()
	miner := seedWallet(minerSeed)
	var to []chain.Address
	if s.kind == "transfers" && s.txs > 0 {
		for i := range recipients {
			to = append(to, seedWallet(recipientBase+i).Address())
		}
	}
	parent := chain.Genesis(p)
	var balance, nonce uint64
	sent := 0
	const chunk = 1000
	for first := 0; first < s.blocks; first += chunk {
		if err := ctx.Err(); err != nil {
			return chainMeta{}, err
		}
		n := min(chunk, s.blocks-first)
		// Unsigned transfers first, then signed on all cores.
		blockTxs := make([][]*chain.Tx, n)
		var all []*chain.Tx
		for k := range n {
			if s.kind != "transfers" {
				continue
			}
			for range s.txs {
				if balance < 1 { // the first block: nothing to spend yet
					break
				}
				tx := &chain.Tx{Recipient: to[sent%len(to)], Amount: 1, Nonce: nonce}
				nonce++
				sent++
				balance--
				blockTxs[k] = append(blockTxs[k], tx)
				all = append(all, tx)
			}
			balance += p.BlockReward // this block's coinbase, spendable from the next
		}
		signAll(miner, chain.NetworkID(p), all)
		blocks := make([]*chain.Block, n)
		for k := range n {
			i := first + k
			payee := miner.Address()
			if s.kind == "funded" {
				payee = fundedWallet(i).Address()
			}
			index := parent.Index + 1
			b := &chain.Block{
				Header: chain.Header{Index: index, Timestamp: parent.Timestamp + p.TargetSpacing.Milliseconds(), PrevHash: parent.Hash(), Bits: p.InitialBits},
				Txs:    append([]*chain.Tx{{Recipient: payee, Amount: p.BlockReward, Nonce: index}}, blockTxs[k]...),
			}
			b.MerkleRoot = chain.MerkleRoot(b.Txs)
			if err := solve(b); err != nil {
				return chainMeta{}, err
			}
			blocks[k] = b
			parent = b
		}
		if k, _, err := c.AddBlocks(blocks); err != nil {
			return chainMeta{}, fmt.Errorf("generated block %d rejected: %w", first+k+1, err)
		}
	}
	tip := c.Tip()
	if tip.Index != uint64(s.blocks)+1 {
		return chainMeta{}, fmt.Errorf("generated chain ends at index %d, want %d", tip.Index, s.blocks+1)
	}
	return chainMeta{Tip: tip.Hash.String(), Index: tip.Index, Txs: sent}, nil
}

// signAll signs txs with w for network, spread over all cores.
func signAll(w *chain.Wallet, network chain.Hash, txs []*chain.Tx) {
	workers := runtime.NumCPU()
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			for i := g; i < len(txs); i += workers {
				w.Sign(txs[i], network)
			}
		})
	}
	wg.Wait()
}

// solve finds the block's nonce (cheap at the test network's difficulty).
func solve(b *chain.Block) error {
	target, err := pow.TargetFromBits(b.Bits)
	if err != nil {
		return err
	}
	for n := uint64(0); n < 1<<32; n++ {
		b.Nonce = n
		h := [32]byte(b.Hash())
		if pow.HashMeetsTarget(&h, target) {
			return nil
		}
	}
	return errors.New("no nonce found")
}

// dataDirWith makes a fresh node data directory holding a copy of the
// cached chain's store.
func dataDirWith(parent, cached string) (string, error) {
	dir, err := os.MkdirTemp(parent, "node-*")
	if err != nil {
		return "", err
	}
	if err := copyFile(filepath.Join(cached, "chain.db"), filepath.Join(dir, "chain.db")); err != nil {
		return "", err
	}
	return dir, nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// dirSize is the size of the files under dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
