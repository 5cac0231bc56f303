package api

import (
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/gossipchain/gossipchain/node"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the Prometheus side of a node, on a registry of its own (no
// global state). It exists before the node, so that its Observe method can
// be node.Config.Observe; Attach connects the node's gauges and counters
// afterwards. Until then they read 0.
//
// Exported metrics:
//
//	gossipchain_chain_index                    gauge: main-chain head index (1 = genesis)
//	gossipchain_difficulty_leading_zero_bits   gauge: head's difficulty in leading zero bits
//	gossipchain_peers                          gauge: connected peers
//	gossipchain_mempool_transactions           gauge: pending transactions
//	gossipchain_hashrate_hashes_per_second     gauge: miner's recent hash rate
//	gossipchain_mining                         gauge: 1 while mining continuously
//	gossipchain_blocks_{received,rejected,synced,mined}_total   counters
//	gossipchain_txs_{received,rejected,accepted}_total          counters
//	gossipchain_reorgs_total, gossipchain_peers_penalised_total counters
//	gossipchain_gossip_block_validation_seconds  histogram ("gossip_block")
//	gossipchain_gossip_tx_validation_seconds     histogram ("gossip_tx")
//	gossipchain_sync_seconds                     histogram ("sync")
//	gossipchain_mine_block_seconds               histogram ("mine_block")
//	gossipchain_timing_seconds{name}             histogram: any other Observe name
//	gossipchain_http_requests_total{route,code}  counter
//	go_*, process_*                              the Go runtime and process collectors
type Metrics struct {
	reg      *prometheus.Registry
	node     atomic.Pointer[node.Node]
	timings  map[string]prometheus.Histogram
	other    *prometheus.HistogramVec
	requests *prometheus.CounterVec
}

// NewMetrics makes the registry and every metric.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)

	gauge := func(name, help string, f func(n *node.Node) float64) {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "gossipchain", Name: name, Help: help}, func() float64 {
			if n := m.node.Load(); n != nil {
				return f(n)
			}
			return 0
		}))
	}
	gauge("chain_index", "Index of the main chain's head block (the genesis is 1).", func(n *node.Node) float64 { return float64(n.Chain().Tip().Index) })
	gauge("difficulty_leading_zero_bits", "Difficulty of the head block, in leading zero bits of the target.", func(n *node.Node) float64 { return float64(LeadingZeroBits(n.Chain().Tip().Bits)) })
	gauge("peers", "Connected chain peers.", func(n *node.Node) float64 { return float64(n.Status().Peers) })
	gauge("mempool_transactions", "Transactions waiting in the mempool.", func(n *node.Node) float64 { return float64(n.Chain().Mempool().Len()) })
	gauge("hashrate_hashes_per_second", "Miner's hash rate over its recent busy period.", func(n *node.Node) float64 { return n.HashRate() })
	gauge("mining", "1 while the node mines continuously, else 0.", func(n *node.Node) float64 {
		if n.Mining() {
			return 1
		}
		return 0
	})

	counter := func(name, help string, f func(c *node.Metrics) uint64) {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "gossipchain", Name: name, Help: help}, func() float64 {
			if n := m.node.Load(); n != nil {
				return float64(f(n.Metrics()))
			}
			return 0
		}))
	}
	counter("blocks_received_total", "New blocks received by gossip.", func(c *node.Metrics) uint64 { return c.BlocksReceived.Load() })
	counter("blocks_rejected_total", "Blocks from gossip or sync that broke a rule.", func(c *node.Metrics) uint64 { return c.BlocksRejected.Load() })
	counter("blocks_low_work_total", "Gossiped blocks ignored by the low-work rule: a peer behind us, or a cheap branch.", func(c *node.Metrics) uint64 { return c.BlocksLowWork.Load() })
	counter("blocks_synced_total", "Blocks accepted through the sync protocol.", func(c *node.Metrics) uint64 { return c.BlocksSynced.Load() })
	counter("blocks_mined_total", "Blocks mined by this node.", func(c *node.Metrics) uint64 { return c.BlocksMined.Load() })
	counter("txs_received_total", "Transactions from gossip accepted into the mempool.", func(c *node.Metrics) uint64 { return c.TxsReceived.Load() })
	counter("txs_rejected_total", "Transactions from gossip that broke a rule.", func(c *node.Metrics) uint64 { return c.TxsRejected.Load() })
	counter("txs_accepted_total", "Local transaction submissions accepted.", func(c *node.Metrics) uint64 { return c.TxsAccepted.Load() })
	counter("txs_not_durable_total", "Local transaction submissions refused: the pending-transaction log could not write.", func(c *node.Metrics) uint64 { return c.TxsNotDurable.Load() })
	counter("txs_parked_total", "Acknowledged transactions the mempool let go (evicted, or left out after a reorg), parked until they fit.", func(c *node.Metrics) uint64 { return c.TxsParked.Load() })
	counter("reorgs_total", "Main-chain reorganisations.", func(c *node.Metrics) uint64 { return c.Reorgs.Load() })
	counter("peers_penalised_total", "Peers penalised for misbehaving.", func(c *node.Metrics) uint64 { return c.PeersPenalised.Load() })

	fast := prometheus.ExponentialBuckets(0.0001, 4, 10) // 100 µs .. 26 s
	slow := prometheus.ExponentialBuckets(0.001, 4, 11)  // 1 ms .. 17 min
	m.timings = map[string]prometheus.Histogram{
		"gossip_block": prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "gossipchain", Name: "gossip_block_validation_seconds", Help: "Validation of a gossiped block.", Buckets: fast}),
		"gossip_tx":    prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "gossipchain", Name: "gossip_tx_validation_seconds", Help: "Validation of a gossiped transaction.", Buckets: fast}),
		"sync":         prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "gossipchain", Name: "sync_seconds", Help: "One sync exchange with a peer.", Buckets: slow}),
		"mine_block":   prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "gossipchain", Name: "mine_block_seconds", Help: "Proof-of-work search of a block this node mined.", Buckets: slow}),
	}
	for _, h := range m.timings {
		m.reg.MustRegister(h)
	}
	m.other = prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "gossipchain", Name: "timing_seconds", Help: "Other timings the node reports.", Buckets: slow}, []string{"name"})
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "gossipchain", Name: "http_requests_total", Help: "HTTP API requests by route and status code."}, []string{"route", "code"})
	m.reg.MustRegister(m.other, m.requests)
	return m
}

// Observe records a timing the node reports (node.Config.Observe).
func (m *Metrics) Observe(name string, seconds float64) {
	if h, ok := m.timings[name]; ok {
		h.Observe(seconds)
		return
	}
	m.other.WithLabelValues(name).Observe(seconds)
}

// Attach makes the gauges and counters read n.
func (m *Metrics) Attach(n *node.Node) { m.node.Store(n) }

// Registry is the registry behind /metrics.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

func (m *Metrics) countRequest(route string, code int) {
	m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
}
