package web

import (
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gossipchain/gossipchain/chain"
)

var funcs = template.FuncMap{
	"short": func(s string) string {
		if len(s) > 16 {
			return s[:8] + "…" + s[len(s)-6:]
		}
		return s
	},
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05.000 UTC")
	},
}

type txView struct {
	chain.TxJSON
	Coinbase bool
}

func txViews(txs []*chain.Tx) []txView {
	out := make([]txView, len(txs))
	for i, tx := range txs {
		out[i] = txView{TxJSON: tx.JSON(), Coinbase: tx.IsCoinbase()}
	}
	return out
}

func (h *Handler) blockPage(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	c := h.n.Chain()
	var b *chain.Block
	var err error
	if i, perr := strconv.ParseUint(id, 10, 64); perr == nil && len(id) < 20 {
		b, err = c.BlockByIndex(i)
	} else if hash, perr := chain.ParseHash(id); perr == nil {
		b, err = c.BlockByHash(hash)
	} else {
		h.notFound(w, "block "+id+" (give a main-chain index or a 64-hex hash)")
		return
	}
	if err != nil {
		h.notFound(w, "block "+id)
		return
	}
	hash := b.Hash()
	data := map[string]any{
		"Title": "block #" + strconv.FormatUint(b.Index, 10), "Block": b.JSON(), "Time": b.Header.Time(),
		"Main": c.IsMain(hash), "Invalid": c.IsInvalid(hash), "Miner": miner(b), "Txs": txViews(b.Txs),
		"Difficulty": leadingZeroBits(b.Bits),
	}
	if a, ok := h.n.BlockArrival(hash); ok {
		data["Arrived"], data["Source"] = a.Time, a.Source
	}
	h.render(w, http.StatusOK, "block.html", data)
}

// scan walks back over at most ScanBlocks main-chain blocks from the head,
// newest first, until f returns false.
func (h *Handler) scan(f func(b *chain.Block) bool) (scanned int) {
	c := h.n.Chain()
	top := c.Tip().Index
	for top >= 1 && scanned < h.opts.ScanBlocks {
		n := min(uint64(64), top, uint64(h.opts.ScanBlocks-scanned))
		blocks, err := c.MainBlocks(top-n+1, int(n))
		if err != nil || len(blocks) == 0 {
			return scanned
		}
		for i := len(blocks) - 1; i >= 0; i-- {
			scanned++
			if !f(blocks[i]) {
				return scanned
			}
		}
		top -= uint64(len(blocks))
	}
	return scanned
}

func (h *Handler) txPage(w http.ResponseWriter, r *http.Request) {
	id, err := chain.ParseHash(r.PathValue("id"))
	if err != nil {
		h.notFound(w, "transaction "+r.PathValue("id"))
		return
	}
	data := map[string]any{"Title": "transaction " + id.String()[:8], "Scan": h.opts.ScanBlocks}
	for _, tx := range h.n.Chain().Mempool().Pending() {
		if tx.ID() == id {
			data["Tx"], data["Pending"] = txViews([]*chain.Tx{tx})[0], true
			h.render(w, http.StatusOK, "tx.html", data)
			return
		}
	}
	var found *chain.Block
	var tx *chain.Tx
	h.scan(func(b *chain.Block) bool {
		for _, t := range b.Txs {
			if t.ID() == id {
				found, tx = b, t
				return false
			}
		}
		return true
	})
	if found == nil {
		h.notFound(w, "transaction "+id.String()+" (not pending, nor in the last "+strconv.Itoa(h.opts.ScanBlocks)+" blocks)")
		return
	}
	data["Tx"], data["Block"] = txViews([]*chain.Tx{tx})[0], found.JSON()
	data["Confirmations"] = h.n.Chain().Tip().Index - found.Index + 1
	h.render(w, http.StatusOK, "tx.html", data)
}

type addrTx struct {
	txView
	Block    uint64
	Pending  bool
	Incoming bool
}

const addressTxsShown = 200

func (h *Handler) addressPage(w http.ResponseWriter, r *http.Request) {
	a, err := chain.ParseAddress(strings.TrimSpace(r.PathValue("addr")))
	if err != nil {
		h.notFound(w, "address "+r.PathValue("addr"))
		return
	}
	acct, next := h.n.Balance(a)
	var txs []addrTx
	for _, tx := range h.n.Chain().Mempool().Pending() {
		if tx.Sender == a || tx.Recipient == a {
			txs = append(txs, addrTx{txView: txViews([]*chain.Tx{tx})[0], Pending: true, Incoming: tx.Recipient == a})
		}
	}
	scanned := h.scan(func(b *chain.Block) bool {
		for _, tx := range b.Txs {
			if tx.Sender == a || tx.Recipient == a {
				txs = append(txs, addrTx{txView: txViews([]*chain.Tx{tx})[0], Block: b.Index, Incoming: tx.Recipient == a})
			}
		}
		return len(txs) < addressTxsShown
	})
	h.render(w, http.StatusOK, "address.html", map[string]any{
		"Title": "address " + a.String()[:8], "Address": a.String(), "Balance": acct.Balance, "Nonce": next,
		"Txs": txs, "Scanned": scanned, "Self": a == h.n.Address(),
	})
}
