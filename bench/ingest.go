package bench

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	"github.com/gossipchain/gossipchain/node"
)

// IngestResult is how many signed transactions per second one node
// validates into its mempool.
type IngestResult struct {
	Mode    string `json:"mode"` // "ingest"
	Txs     int    `json:"txs"`
	Senders int    `json:"senders"`
	Clients int    `json:"clients"`
	// TxPerSInProcess is node.SubmitTx (validation, mempool, event and
	// gossip announcement) from Clients goroutines.
	TxPerSInProcess float64 `json:"tx_per_s_inprocess"`
	// TxPerSChain is chain.SubmitTx alone (validation and mempool).
	TxPerSChain float64 `json:"tx_per_s_chain"`
	// TxPerSHTTP is POST /transactions/new of fully signed transactions by
	// Clients keep-alive HTTP clients on loopback; the clients run in this
	// process and share its cores with the node.
	TxPerSHTTP float64 `json:"tx_per_s_http"`
	LoadAvg1   float64 `json:"load_avg_1m"`
}

// perSender is how many transfers (amount 1, fee 1) each funded sender
// makes: its one coinbase of 50 pays for 25.
const perSender = 25

// Ingest submits IngestTxs pre-signed transfers from many funded senders to
// a fresh node three ways: chain.SubmitTx, node.SubmitTx, and HTTP.
func Ingest(ctx context.Context, o Options) (*IngestResult, error) {
	o.setDefaults()
	p := o.params()
	if p.BlockReward < 2*perSender {
		return nil, fmt.Errorf("ingest: block reward %d cannot fund %d transfers", p.BlockReward, perSender)
	}
	senders := (o.IngestTxs + perSender - 1) / perSender
	r := &IngestResult{Mode: "ingest", Txs: o.IngestTxs, Senders: senders, Clients: o.IngestClients, LoadAvg1: LoadAvg()}
	cached, _, err := cachedChain(ctx, &o, chainShape{kind: "funded", blocks: senders})
	if err != nil {
		return nil, err
	}
	// work[c] is client c's transactions: its senders' in nonce order,
	// interleaved across senders.
	o.logf("ingest: signing %d transfers from %d senders", o.IngestTxs, senders)
	to := seedWallet(recipientBase).Address()
	txs := make([][]*chain.Tx, senders)
	total := 0
	for s := range senders {
		for k := range perSender {
			if total == o.IngestTxs {
				break
			}
			txs[s] = append(txs[s], &chain.Tx{Recipient: to, Amount: 1, Fee: 1, Nonce: uint64(k)})
			total++
		}
	}
	var wg sync.WaitGroup
	for s := range senders {
		wg.Go(func() { signAll(fundedWallet(s), chain.NetworkID(p), txs[s]) })
	}
	wg.Wait()
	work := make([][]*chain.Tx, o.IngestClients)
	for k := range perSender {
		for s := range senders {
			if k < len(txs[s]) {
				c := s % o.IngestClients
				work[c] = append(work[c], txs[s][k])
			}
		}
	}

	tmp, err := os.MkdirTemp("", "gossipchain-bench-ingest-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	run := func(name string, submit func(n *node.Node) (func(*chain.Tx) error, func(), error)) (float64, error) {
		dir, err := dataDirWith(tmp, cached)
		if err != nil {
			return 0, err
		}
		n, err := startNode(dir, p)
		if err != nil {
			return 0, err
		}
		defer n.Close()
		f, done, err := submit(n)
		if err != nil {
			return 0, err
		}
		defer done()
		var failed atomic.Int64
		var first atomic.Value
		start := time.Now()
		var wg sync.WaitGroup
		for _, list := range work {
			wg.Go(func() {
				for _, tx := range list {
					if err := f(tx); err != nil {
						if failed.Add(1) == 1 {
							first.Store(err)
						}
					}
				}
			})
		}
		wg.Wait()
		d := time.Since(start)
		if k := failed.Load(); k > 0 {
			return 0, fmt.Errorf("ingest %s: %d of %d transactions refused, first: %v", name, k, total, first.Load())
		}
		if got := n.Chain().Mempool().Len(); got != total {
			return 0, fmt.Errorf("ingest %s: mempool holds %d, want %d", name, got, total)
		}
		o.logf("ingest %s: %d txs in %v", name, total, d.Round(time.Millisecond))
		return rate(total, d), ctx.Err()
	}

	if r.TxPerSChain, err = run("chain.SubmitTx", func(n *node.Node) (func(*chain.Tx) error, func(), error) {
		return n.Chain().SubmitTx, func() {}, nil
	}); err != nil {
		return nil, err
	}
	if r.TxPerSInProcess, err = run("node.SubmitTx", func(n *node.Node) (func(*chain.Tx) error, func(), error) {
		return func(tx *chain.Tx) error { return n.SubmitTx(ctx, tx) }, func() {}, nil
	}); err != nil {
		return nil, err
	}
	// The request bodies are encoded before the clock starts: the client's
	// JSON is not the node's cost.
	bodies := make(map[*chain.Tx][]byte, total)
	for _, list := range work {
		for _, tx := range list {
			bodies[tx] = newTxBody(tx)
		}
	}
	if r.TxPerSHTTP, err = run("HTTP", func(n *node.Node) (func(*chain.Tx) error, func(), error) {
		base, stop, err := serveAPI(n, "127.0.0.1:0")
		if err != nil {
			return nil, nil, err
		}
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: o.IngestClients, MaxConnsPerHost: o.IngestClients}, Timeout: 30 * time.Second}
		post := func(tx *chain.Tx) error {
			resp, err := client.Post(base+"/transactions/new", "application/json", bytes.NewReader(bodies[tx]))
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusCreated {
				return fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(body))
			}
			return nil
		}
		return post, func() { client.CloseIdleConnections(); stop() }, nil
	}); err != nil {
		return nil, err
	}
	return r, nil
}

// newTxBody is a fully signed transfer as POST /transactions/new takes it.
func newTxBody(tx *chain.Tx) []byte {
	b, _ := json.Marshal(map[string]any{
		"sender":    tx.Sender.String(),
		"recipient": tx.Recipient.String(),
		"amount":    tx.Amount,
		"fee":       tx.Fee,
		"nonce":     tx.Nonce,
		"signature": hex.EncodeToString(tx.Signature[:]),
	})
	return b
}

// Table implements Result.
func (r *IngestResult) Table(w io.Writer) {
	t := newTable(fmt.Sprintf("ingest: %d signed txs from %d senders, %d concurrent submitters", r.Txs, r.Senders, r.Clients), r.LoadAvg1)
	goal, st := "", ""
	if r.Txs >= 5000 { // too few to time otherwise
		goal, st = "≥ 10,000 tx/s", met(r.TxPerSInProcess >= 10000)
	}
	t.row("node.SubmitTx (in-process)", txps(r.TxPerSInProcess), goal, st)
	t.row("chain.SubmitTx (validation + mempool only)", txps(r.TxPerSChain), "", "")
	t.row("POST /transactions/new (HTTP, loopback)", txps(r.TxPerSHTTP), "", "")
	t.write(w)
}

func txps(v float64) string { return fmt.Sprintf("%.0f tx/s", v) }
