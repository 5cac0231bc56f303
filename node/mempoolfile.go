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

// The mempool lives in memory; Close saves it to MempoolFile and New loads
// it back, so a transaction the node acknowledged is not lost to a clean
// restart. (A SIGKILL loses the pending transactions, not the blocks.)
const MempoolFile = "mempool.dat"

var mempoolMagic = []byte("gossipchain-mempool-v1\n")

// saveMempool writes the pending transactions, in an order that admits
// them again (each sender's by nonce), with a temp file and a rename.
func (n *Node) saveMempool() error {
	txs := n.chain.Mempool().Pending()
	path := filepath.Join(n.cfg.DataDir, MempoolFile)
	if len(txs) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		return nil
	}
	buf := bytes.NewBuffer(make([]byte, 0, len(mempoolMagic)+len(txs)*chain.TxSize))
	buf.Write(mempoolMagic)
	for _, tx := range txs {
		buf.Write(tx.Bytes())
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("save mempool: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save mempool: %w", err)
	}
	n.log.Info("saved mempool", "txs", len(txs))
	return nil
}

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
