package node

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gossipchain/gossipchain/chain"
)

// Before the pending-transaction log (durable.go), Close saved the mempool
// to MempoolFile. New still loads such a file once, then removes it: the
// log holds the pool from then on.
const MempoolFile = "mempool.dat"

var mempoolMagic = []byte("gossipchain-mempool-v1\n")

// loadMempool re-admits saved transactions; those the chain has mined or
// made invalid meanwhile are dropped. A damaged file is reported, not fatal.
func (n *Node) loadMempool() {
	path := filepath.Join(n.cfg.DataDir, MempoolFile)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err == nil && (!bytes.HasPrefix(data, mempoolMagic) || (len(data)-len(mempoolMagic))%chain.TxSize != 0) {
		err = fmt.Errorf("%s is not a saved mempool: %w", path, chain.ErrMalformed)
	}
	if err != nil {
		n.log.Warn("saved mempool not loaded", "err", err)
		return
	}
	data = data[len(mempoolMagic):]
	admitted := 0
	for len(data) > 0 {
		tx, _ := chain.DecodeTx(data[:chain.TxSize])
		data = data[chain.TxSize:]
		if n.chain.SubmitTx(tx) == nil {
			admitted++
		}
	}
	os.Remove(path)
	n.log.Info("loaded saved mempool", "txs", admitted)
}
