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
	"runtime/trace"
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
	// CPU of this whole process (user + system) per transaction, each
	// way: less sensitive than the rates to other work on the machine.
	CPUUsPerTxChain     float64 `json:"cpu_us_per_tx_chain"`
	CPUUsPerTxInProcess float64 `json:"cpu_us_per_tx_inprocess"`
	CPUUsPerTxHTTP      float64 `json:"cpu_us_per_tx_http"`
	// Records per write and fdatasync of the pending-transaction log
	// (group commit), in process and over HTTP.
	RecordsPerSyncInProcess float64 `json:"records_per_sync_inprocess"`
	RecordsPerSyncHTTP      float64 `json:"records_per_sync_http"`
	// Submissions admitted a group (node/admit.go: one batch signature
	// check a group), in process and over HTTP.
	TxsPerGroupInProcess float64 `json:"txs_per_admission_group_inprocess"`
	TxsPerGroupHTTP      float64 `json:"txs_per_admission_group_http"`
	// The log's mean write and fdatasync a batch (µs), and what it allows
	// Clients closed-loop submitters at most: each waits for one whole
	// sync that starts after its record is in, so no durable design
	// answers them faster than Clients ÷ that latency a second.
	LogWriteUsInProcess   float64 `json:"log_write_us_inprocess"`
	LogWriteUsHTTP        float64 `json:"log_write_us_http"`
	SyncBoundTxPerSInProc float64 `json:"sync_bound_tx_per_s_inprocess"`
	SyncBoundTxPerSHTTP   float64 `json:"sync_bound_tx_per_s_http"`
	LoadAvg1              float64 `json:"load_avg_1m"`
}

// ingestRun is one way's figures.
type ingestRun struct {
	rate, cpuUsPerTx, recordsPerSync, txsPerGroup, writeUs float64
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

	run := func(name string, submit func(n *node.Node) (func(*chain.Tx) error, func(), error)) (ingestRun, error) {
		var res ingestRun
		dir, err := dataDirWith(tmp, cached)
		if err != nil {
			return res, err
		}
		n, err := startNode(dir, p)
		if err != nil {
			return res, err
		}
		defer n.Close()
		f, done, err := submit(n)
		if err != nil {
			return res, err
		}
		defer done()
		var failed atomic.Int64
		var first atomic.Value
		log0, adm0, cpu0 := n.TxLogStats(), n.AdmissionStats(), cpuSeconds()
		start := time.Now()
		var wg sync.WaitGroup
		for _, list := range work {
			wg.Go(func() {
				for _, tx := range list {
					var err error
					// A region a submission: its latency, and what it
					// waited on, in an execution trace (bench --trace).
					trace.WithRegion(ctx, "submit", func() { err = f(tx) })
					if err != nil {
						if failed.Add(1) == 1 {
							first.Store(err)
						}
					}
				}
			})
		}
		wg.Wait()
		d := time.Since(start)
		cpu, log1, adm1 := cpuSeconds()-cpu0, n.TxLogStats(), n.AdmissionStats()
		if k := failed.Load(); k > 0 {
			return res, fmt.Errorf("ingest %s: %d of %d transactions refused, first: %v", name, k, total, first.Load())
		}
		if got := n.Chain().Mempool().Len(); got != total {
			return res, fmt.Errorf("ingest %s: mempool holds %d, want %d", name, got, total)
		}
		res.rate, res.cpuUsPerTx = rate(total, d), cpu*1e6/float64(total)
		if b := log1.Batches - log0.Batches; b > 0 {
			res.recordsPerSync = float64(log1.Records-log0.Records) / float64(b)
			res.writeUs = float64((log1.WriteTime - log0.WriteTime).Microseconds()) / float64(b)
		}
		if g := adm1.Groups - adm0.Groups; g > 0 {
			res.txsPerGroup = float64(adm1.Txs-adm0.Txs) / float64(g)
		}
		o.logf("ingest %s: %d txs in %v, %.1f µs CPU a tx, %.1f records a log sync of %.0f µs, %.1f txs an admission group", name, total, d.Round(time.Millisecond), res.cpuUsPerTx, res.recordsPerSync, res.writeUs, res.txsPerGroup)
		return res, ctx.Err()
	}

	chainRun, err := run("chain.SubmitTx", func(n *node.Node) (func(*chain.Tx) error, func(), error) {
		return n.Chain().SubmitTx, func() {}, nil
	})
	if err != nil {
		return nil, err
	}
	r.TxPerSChain, r.CPUUsPerTxChain = chainRun.rate, chainRun.cpuUsPerTx
	nodeRun, err := run("node.SubmitTx", func(n *node.Node) (func(*chain.Tx) error, func(), error) {
		return func(tx *chain.Tx) error { return n.SubmitTx(ctx, tx) }, func() {}, nil
	})
	if err != nil {
		return nil, err
	}
	r.TxPerSInProcess, r.CPUUsPerTxInProcess, r.RecordsPerSyncInProcess, r.TxsPerGroupInProcess = nodeRun.rate, nodeRun.cpuUsPerTx, nodeRun.recordsPerSync, nodeRun.txsPerGroup
	r.LogWriteUsInProcess, r.SyncBoundTxPerSInProc = nodeRun.writeUs, syncBound(o.IngestClients, nodeRun.writeUs)
	// The request bodies are encoded before the clock starts: the client's
	// JSON is not the node's cost.
	bodies := make(map[*chain.Tx][]byte, total)
	for _, list := range work {
		for _, tx := range list {
			bodies[tx] = newTxBody(tx)
		}
	}
	httpRun, err := run("HTTP", func(n *node.Node) (func(*chain.Tx) error, func(), error) {
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
	})
	if err != nil {
		return nil, err
	}
	r.TxPerSHTTP, r.CPUUsPerTxHTTP, r.RecordsPerSyncHTTP, r.TxsPerGroupHTTP = httpRun.rate, httpRun.cpuUsPerTx, httpRun.recordsPerSync, httpRun.txsPerGroup
	r.LogWriteUsHTTP, r.SyncBoundTxPerSHTTP = httpRun.writeUs, syncBound(o.IngestClients, httpRun.writeUs)
	return r, nil
}

// syncBound is the most clients closed-loop submitters can be answered a
// second when each answer waits for a log sync of writeUs µs.
func syncBound(clients int, writeUs float64) float64 {
	if writeUs <= 0 {
		return 0
	}
	return float64(clients) * 1e6 / writeUs
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
	t.row("node.SubmitTx (in-process, durable)", txps(r.TxPerSInProcess), goal, st)
	t.row("chain.SubmitTx (validation + mempool only)", txps(r.TxPerSChain), "", "")
	t.row("POST /transactions/new (HTTP, loopback, durable)", txps(r.TxPerSHTTP), "", "")
	t.row("process CPU a tx: chain / node / HTTP", fmt.Sprintf("%.0f / %.0f / %.0f µs", r.CPUUsPerTxChain, r.CPUUsPerTxInProcess, r.CPUUsPerTxHTTP), "", "")
	t.row("records a log fdatasync: node / HTTP", fmt.Sprintf("%.1f / %.1f", r.RecordsPerSyncInProcess, r.RecordsPerSyncHTTP), "", "")
	t.row("txs an admission group: node / HTTP", fmt.Sprintf("%.1f / %.1f", r.TxsPerGroupInProcess, r.TxsPerGroupHTTP), "", "")
	t.row("log write + fdatasync, mean: node / HTTP", fmt.Sprintf("%.0f / %.0f µs", r.LogWriteUsInProcess, r.LogWriteUsHTTP), "", "")
	t.row("at most (submitters ÷ sync): node / HTTP", fmt.Sprintf("%s / %s", txps(r.SyncBoundTxPerSInProc), txps(r.SyncBoundTxPerSHTTP)), "", "")
	t.write(w)
}

func txps(v float64) string { return fmt.Sprintf("%.0f tx/s", v) }
