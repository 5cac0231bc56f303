package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	"github.com/gossipchain/gossipchain/pow"
)

// errStale means the head moved while we searched: the template is void.
var errStale = errors.New("head changed during search")

// mineOnce searches a proof of work for a template on the current head. A
// head change cancels the search (errStale): the block would be a side branch.
func (n *Node) mineOnce(ctx context.Context) (*chain.Block, error) {
	changed := n.headChanged()
	b, ids := n.chain.NewBlockTemplateIDs(n.wallet.Address())
	target, err := pow.TargetFromBits(b.Bits)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-changed:
			cancel()
		case <-sctx.Done():
		}
	}()
	start := time.Now()
	nonce, _, err := n.miner.Search(sctx, b.Header.Bytes(), pow.TargetBytes(target))
	if err != nil {
		if ctx.Err() == nil && sctx.Err() != nil {
			return nil, errStale
		}
		return nil, err
	}
	b.Nonce = nonce
	found := time.Now()
	release, published := n.publishMinedEarly(b, ids)
	// Checked as any block: its shape against the template's ids (hashed
	// from its very transactions: the Merkle root, coinbase, duplicates,
	// fields), then AddShapedBlock's header, context, signatures and
	// state. The template's transfers come from our mempool, whose
	// signatures were checked on admission and are in the cache under
	// these ids: none is verified again, and no id is hashed again.
	var res *chain.AddResult
	sb, err := chain.CheckBlockShapeIDs(b, ids, n.cfg.Params)
	if err == nil {
		res, err = n.chain.AddShapedBlock(sb)
	}
	release()
	if err != nil {
		if errors.Is(err, chain.ErrTimeTooOld) || errors.Is(err, chain.ErrKnownBlock) {
			return nil, errStale
		}
		return nil, fmt.Errorf("mined block rejected: %w", err)
	}
	if res.Status != chain.StatusMain {
		return nil, errStale // a competing block arrived first
	}
	n.metrics.BlocksMined.Add(1)
	n.noteArrival("local", found, b)
	n.observe("mine_block", time.Since(start).Seconds())
	// txs counts the coinbase, as the console's "(1 tx)" does.
	n.log.Info("mined block", "index", b.Index, "hash", b.Hash(), "txs", len(b.Txs), "transfers", len(b.Txs)-1)
	n.added(res, "local")
	if !published {
		n.publishBlock(b)
	}
	return b, nil
}

// MineBlock mines one block now with the pending transactions, retrying on
// the new head if a peer's block arrives first.
func (n *Node) MineBlock(ctx context.Context) (*chain.Block, error) {
	for {
		b, err := n.mineOnce(ctx)
		if errors.Is(err, errStale) {
			continue
		}
		return b, err
	}
}

// StartMining mines continuously until StopMining; each new head restarts
// the search on a fresh template.
func (n *Node) StartMining() {
	n.mineMu.Lock()
	defer n.mineMu.Unlock()
	if n.mining {
		return
	}
	ctx, cancel := context.WithCancel(n.ctx)
	done := make(chan struct{})
	n.mining, n.stopMine, n.mineDone = true, cancel, done
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if _, err := n.mineOnce(ctx); err != nil && !errors.Is(err, errStale) && ctx.Err() == nil {
				n.log.Error("mining", "err", err)
				select { // do not spin on a persistent error
				case <-time.After(time.Second):
				case <-ctx.Done():
				}
			}
		}
	}()
	n.log.Info("mining started")
}

// StopMining stops continuous mining and waits for the search to end.
func (n *Node) StopMining() {
	n.mineMu.Lock()
	if !n.mining {
		n.mineMu.Unlock()
		return
	}
	n.stopMine()
	done := n.mineDone
	n.mining = false
	n.mineMu.Unlock()
	<-done
	n.log.Info("mining stopped")
}

// Mining reports whether continuous mining is on.
func (n *Node) Mining() bool {
	n.mineMu.Lock()
	defer n.mineMu.Unlock()
	return n.mining
}

// HashRate is the miner's recent hashes per second.
func (n *Node) HashRate() float64 { return n.miner.HashRate() }
