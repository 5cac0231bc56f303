package web

import (
	"net/http"
	"sort"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	"github.com/gossipchain/gossipchain/node"
	"github.com/gossipchain/gossipchain/pow"
)

// The dashboard's data. Times are unix milliseconds.

type snapshot struct {
	Now         int64      `json:"now"`
	Node        nodeJSON   `json:"node"`
	Head        headJSON   `json:"head"`
	Blocks      []blockRow `json:"blocks"`
	Tree        []treeJSON `json:"tree"`
	Peers       []peerJSON `json:"peers"`
	Bans        []banJSON  `json:"bans"`
	Mempool     []txRow    `json:"mempool"`
	MempoolLen  int        `json:"mempool_count"`
	Network     []netNode  `json:"network"`
	Propagation []histBin  `json:"propagation"`
	PropSamples int        `json:"propagation_samples"`
	LastReorg   *reorgJSON `json:"last_reorg,omitempty"`
}

type nodeJSON struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Genesis string `json:"genesis"`
	Network string `json:"network"`
	Beacon  bool   `json:"beacon"`
}

type headJSON struct {
	Index      uint64  `json:"index"`
	Hash       string  `json:"hash"`
	Time       int64   `json:"time"`
	Bits       uint32  `json:"bits"`
	Difficulty int     `json:"difficulty"` // leading zero bits
	HashRate   float64 `json:"hashrate"`
	Peers      int     `json:"peers"`
	Mempool    int     `json:"mempool"`
	Mining     bool    `json:"mining"`
}

type blockRow struct {
	Index   uint64 `json:"index"`
	Hash    string `json:"hash"`
	Time    int64  `json:"time"`
	Txs     int    `json:"txs"`
	Miner   string `json:"miner"`
	Arrived int64  `json:"arrived,omitempty"`
	Source  string `json:"source,omitempty"`
}

type treeJSON struct {
	Hash    string `json:"hash"`
	Parent  string `json:"parent"`
	Index   uint64 `json:"index"`
	Main    bool   `json:"main,omitempty"`
	Invalid bool   `json:"invalid,omitempty"`
	Orphan  bool   `json:"orphan,omitempty"`
	Source  string `json:"source,omitempty"`
}

type peerJSON struct {
	ID        string   `json:"id"`
	Addrs     []string `json:"addrs"`
	Direction string   `json:"direction"`
	FoundBy   string   `json:"found_by"`
	LatencyMS float64  `json:"latency_ms"`
	Index     uint64   `json:"index"`
	Head      string   `json:"head"`
	Since     int64    `json:"since"`
	Score     float64  `json:"score"`
}

type banJSON struct {
	Peer   string `json:"peer"`
	Until  int64  `json:"until"`
	Reason string `json:"reason"`
}

type txRow struct {
	ID     string `json:"id"`
	From   string `json:"from"`
	To     string `json:"to"`
	Amount uint64 `json:"amount"`
	Fee    uint64 `json:"fee"`
	Nonce  uint64 `json:"nonce"`
}

type netNode struct {
	ID       string `json:"id"`
	Self     bool   `json:"self"`
	Index    uint64 `json:"index"`
	Hash     string `json:"hash"`
	Peers    int    `json:"peers"`
	HashRate uint64 `json:"hashrate"`
	Mining   bool   `json:"mining"`
	Mempool  int    `json:"mempool"`
	Lag      int64  `json:"lag"`       // our head index minus its
	Age      int64  `json:"age_ms"`    // since its beacon was sent (its clock)
	SameHead bool   `json:"same_head"` // its head is ours
}

type histBin struct {
	Label string `json:"label"`
	Count int    `json:"count"`
}

type reorgJSON struct {
	At           int64  `json:"at"`
	Index        uint64 `json:"index"`
	Disconnected int    `json:"disconnected"`
	Connected    int    `json:"connected"`
	Source       string `json:"source"`
}

const (
	latestBlocks   = 12
	mempoolShown   = 50
	maxPropSamples = 4096
)

func leadingZeroBits(bits uint32) int {
	t, err := pow.TargetFromBits(bits)
	if err != nil {
		return 0
	}
	return 256 - t.BitLen()
}

// miner is the coinbase recipient: who mined the block.
func miner(b *chain.Block) string {
	if len(b.Txs) == 0 {
		return ""
	}
	return b.Txs[0].Recipient.String()
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// build reads the node once for every dashboard.
func (h *Handler) build(lastReorg *reorgJSON) *snapshot {
	n := h.n
	st := n.Status()
	tip := n.Chain().Tip()
	s := &snapshot{
		Now:        time.Now().UnixMilli(),
		Node:       nodeJSON{ID: st.PeerID, Address: st.Address.String(), Genesis: st.Genesis.String(), Network: n.Chain().Params().Name, Beacon: n.StatsBeaconOn()},
		Head:       headJSON{Index: st.Index, Hash: st.Head.String(), Time: ms(tip.Time), Bits: st.Bits, Difficulty: leadingZeroBits(st.Bits), HashRate: st.HashRate, Peers: st.Peers, Mempool: st.Mempool, Mining: st.Mining},
		MempoolLen: st.Mempool,
		LastReorg:  lastReorg,
	}
	from := uint64(1)
	if st.Index > latestBlocks {
		from = st.Index - latestBlocks + 1
	}
	if blocks, err := n.Chain().MainBlocks(from, latestBlocks); err == nil {
		for i := len(blocks) - 1; i >= 0; i-- {
			b := blocks[i]
			row := blockRow{Index: b.Index, Hash: b.Hash().String(), Time: b.Timestamp, Txs: len(b.Txs), Miner: miner(b)}
			if a, ok := n.BlockArrival(b.Hash()); ok {
				row.Arrived, row.Source = ms(a.Time), a.Source
			}
			s.Blocks = append(s.Blocks, row)
		}
	}
	for _, t := range n.Chain().RecentTree(h.opts.TreeDepth) {
		j := treeJSON{Hash: t.Hash.String(), Parent: t.Parent.String(), Index: t.Index, Main: t.Main, Invalid: t.Invalid, Orphan: t.Orphan}
		if a, ok := n.BlockArrival(t.Hash); ok {
			j.Source = a.Source
		}
		s.Tree = append(s.Tree, j)
	}
	for _, p := range n.PeerDetails() {
		s.Peers = append(s.Peers, peerJSON{ID: p.ID, Addrs: p.Addrs, Direction: p.Direction, FoundBy: p.FoundBy,
			LatencyMS: float64(p.Latency.Microseconds()) / 1000, Index: p.Index, Head: p.Head, Since: ms(p.Since), Score: p.Score})
	}
	for _, b := range n.Banned() {
		s.Bans = append(s.Bans, banJSON{Peer: b.Peer, Until: ms(b.Until), Reason: b.Reason})
	}
	for i, tx := range n.Chain().Mempool().Pending() {
		if i == mempoolShown {
			break
		}
		s.Mempool = append(s.Mempool, txRow{ID: tx.ID().String(), From: tx.Sender.String(), To: tx.Recipient.String(), Amount: tx.Amount, Fee: tx.Fee, Nonce: tx.Nonce})
	}
	// The network: this node and every node whose beacon we hold.
	own := n.OwnBeacon()
	s.Network = append(s.Network, netNode{ID: st.PeerID, Self: true, Index: st.Index, Hash: st.Head.String(), Peers: st.Peers,
		HashRate: own.HashRate, Mining: st.Mining, Mempool: st.Mempool, SameHead: true})
	beacons := n.NetworkStats()
	for _, b := range beacons {
		s.Network = append(s.Network, netNode{ID: b.Peer.String(), Index: b.HeadIndex, Hash: b.HeadHash.String(), Peers: b.Peers,
			HashRate: b.HashRate, Mining: b.Mining, Mempool: b.Mempool, Lag: int64(st.Index) - int64(b.HeadIndex),
			Age: time.Since(b.Sent).Milliseconds(), SameHead: b.HeadHash == st.Head})
	}
	s.Propagation, s.PropSamples = propagation(own, beacons)
	return s
}

// propagationBins are the histogram's upper bounds.
var propagationBins = []struct {
	max   time.Duration
	label string
}{
	{50 * time.Millisecond, "<50ms"}, {100 * time.Millisecond, "<100ms"}, {250 * time.Millisecond, "<250ms"},
	{500 * time.Millisecond, "<500ms"}, {time.Second, "<1s"}, {2 * time.Second, "<2s"},
	{5 * time.Second, "<5s"}, {1<<63 - 1, "≥5s"},
}

// propagation is the histogram of block propagation times: for each block
// that two or more nodes report, every report's first-seen time minus the
// earliest (the miner's, if its beacon is heard). Clocks of different
// machines are compared: skew shows up as delay.
func propagation(own node.Beacon, others []node.NodeStats) ([]histBin, int) {
	seen := map[chain.Hash][]time.Time{}
	add := func(b node.Beacon) {
		for _, s := range b.Seen {
			seen[s.Hash] = append(seen[s.Hash], s.At)
		}
	}
	add(own)
	for _, o := range others {
		add(o.Beacon)
	}
	bins := make([]histBin, len(propagationBins))
	for i, b := range propagationBins {
		bins[i].Label = b.label
	}
	samples := 0
	for _, ts := range seen {
		if len(ts) < 2 {
			continue
		}
		sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
		for _, t := range ts[1:] {
			d := t.Sub(ts[0])
			for i, b := range propagationBins {
				if d < b.max {
					bins[i].Count++
					break
				}
			}
			samples++
			if samples >= maxPropSamples {
				return bins, samples
			}
		}
	}
	return bins, samples
}

func (h *Handler) snapshotJSON(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, h.build(h.hub.reorg()))
}
