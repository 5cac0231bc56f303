package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gossipchain/gossipchain/chain"
	"github.com/gossipchain/gossipchain/node"
	"github.com/gossipchain/gossipchain/pow"
)

// mineResponse is the tutorial's /mine reply, plus the block hash.
type mineResponse struct {
	Message      string         `json:"message"`
	Index        uint64         `json:"index"`
	Transactions []chain.TxJSON `json:"transactions"`
	Proof        uint64         `json:"proof"`
	PreviousHash string         `json:"previous_hash"`
	Hash         string         `json:"hash"`
}

// handleMine mines one block now with the pending transactions.
func (s *server) handleMine(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.MineTimeout)
	defer cancel()
	b, err := s.n.MineBlock(ctx)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			writeError(w, http.StatusGatewayTimeout, "no block found within %s", s.opts.MineTimeout)
			return
		}
		writeError(w, http.StatusInternalServerError, "mining: %v", err)
		return
	}
	j := b.JSON()
	writeJSON(w, http.StatusOK, mineResponse{
		Message:      "New Block Forged",
		Index:        j.Index,
		Transactions: j.Transactions,
		Proof:        j.Proof,
		PreviousHash: j.PreviousHash,
		Hash:         j.Hash,
	})
}

// newTxRequest is the body of POST /transactions/new. Numbers are kept raw
// so that 1.5, -3, "10" and 1e3 are refused rather than coerced.
type newTxRequest struct {
	Sender    *string         `json:"sender"`
	Recipient *string         `json:"recipient"`
	Amount    json.RawMessage `json:"amount"`
	Fee       json.RawMessage `json:"fee"`
	Nonce     json.RawMessage `json:"nonce"`
	Signature *string         `json:"signature"`
	ID        *string         `json:"id"`
}

type newTxResponse struct {
	Message string `json:"message"`
	ID      string `json:"id"`
	// Sender and Nonce name the spend: a transfer from the node's wallet
	// gets its nonce here, so a client can tell later whether this one or
	// a conflicting spend of the nonce was mined.
	Sender string `json:"sender"`
	Nonce  uint64 `json:"nonce"`
}

// handleNewTx accepts a transfer. Without a signature it is sent from the
// node's own wallet (a "sender", if given, must be that wallet's address);
// with "signature" and "nonce" it is a transaction signed elsewhere and is
// submitted as is.
func (s *server) handleNewTx(w http.ResponseWriter, r *http.Request) {
	var req newTxRequest
	if code, err := decodeBody(r, &req); err != nil {
		writeError(w, code, "%v", err)
		return
	}
	signed := req.Signature != nil && *req.Signature != ""
	var missing []string
	if req.Sender == nil || strings.TrimSpace(*req.Sender) == "" {
		if signed {
			missing = append(missing, "sender")
		}
	}
	if req.Recipient == nil || strings.TrimSpace(*req.Recipient) == "" {
		missing = append(missing, "recipient")
	}
	if absent(req.Amount) {
		missing = append(missing, "amount")
	}
	if signed && absent(req.Nonce) {
		missing = append(missing, "nonce")
	}
	if len(missing) > 0 {
		writeError(w, http.StatusBadRequest, "missing field(s): %s", strings.Join(missing, ", "))
		return
	}
	amount, err := parseUint("amount", req.Amount, true)
	if err != nil {
		writeErr(w, err)
		return
	}
	var fee uint64
	if !absent(req.Fee) {
		if fee, err = parseUint("fee", req.Fee, false); err != nil {
			writeErr(w, err)
			return
		}
	}
	to, err := chain.ParseAddress(*req.Recipient)
	if !signed {
		// The tutorial's body names a sender and a made-up recipient: say
		// everything that is wrong at once, and how to succeed.
		var probs []string
		if err != nil {
			probs = append(probs, fmt.Sprintf("recipient %q is not an address: it must be 64 hex characters (an ed25519 public key)", *req.Recipient))
		}
		if req.Sender != nil && strings.TrimSpace(*req.Sender) != "" {
			from, ferr := chain.ParseAddress(*req.Sender)
			if ferr != nil || from != s.n.Address() {
				probs = append(probs, fmt.Sprintf("sender %q is not this node's wallet: leave \"sender\" out to send from this node's wallet (%s), or send a transaction signed by the sender with \"nonce\" and \"signature\"", *req.Sender, s.n.Address()))
			}
		}
		if len(probs) > 0 {
			writeError(w, http.StatusBadRequest, "%s. %s", strings.Join(probs, "; "), addressHint)
			return
		}
	} else if err != nil {
		writeErr(w, fmt.Errorf("recipient: %w", err))
		return
	}

	var tx *chain.Tx
	if signed {
		nonce, err := parseUint("nonce", req.Nonce, false)
		if err != nil {
			writeErr(w, err)
			return
		}
		j := chain.TxJSON{Sender: *req.Sender, Recipient: *req.Recipient, Amount: amount, Fee: fee, Nonce: nonce, Signature: *req.Signature}
		if req.ID != nil {
			j.ID = *req.ID
		}
		if tx, err = chain.ParseTxJSON(j); err != nil {
			writeErr(w, err)
			return
		}
		if err := s.n.SubmitTx(r.Context(), tx); err != nil {
			writeErr(w, err)
			return
		}
	} else {
		if tx, err = s.n.Send(r.Context(), to, amount, fee); err != nil {
			writeErr(w, err)
			return
		}
	}
	msg := fmt.Sprintf("Transaction will be added to Block %d", s.n.Chain().Tip().Index+1)
	if s.n.Parked(tx.ID()) {
		// Behind this wallet's own parked transfers (a nonce they must
		// fill first): stored, not pending yet.
		msg = fmt.Sprintf("Transaction accepted and stored, but not pending yet: it waits behind this wallet's earlier transactions (it has nonce %d) and will be added to a block after them", tx.Nonce)
	}
	writeJSON(w, http.StatusCreated, newTxResponse{
		Message: msg,
		ID:      tx.ID().String(),
		Sender:  tx.Sender.String(),
		Nonce:   tx.Nonce,
	})
}

// addressHint says where an address comes from.
const addressHint = "An address is a wallet's public key: `gossipchain wallet show --data-dir DIR` prints the wallet's in DIR (creating it), and GET /status shows this node's as \"address\""

func absent(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// parseUint reads a JSON integer that fits a uint64; positive refuses 0.
func parseUint(name string, raw json.RawMessage, positive bool) (uint64, error) {
	s := string(raw)
	switch {
	case strings.HasPrefix(s, `"`):
		return 0, badf("%s must be a JSON number, not a string (%s)", name, s)
	case strings.HasPrefix(s, "-"):
		return 0, badf("%s must be a positive integer, got %s", name, s)
	case s == "" || s[0] < '0' || s[0] > '9':
		return 0, badf("%s must be an integer, got %s", name, s)
	case strings.ContainsAny(s, ".eE"):
		return 0, badf("%s must be a whole number, got %s", name, s)
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if errors.Is(err, strconv.ErrRange) {
		return 0, badf("%s %s is too large (at most %d)", name, s, uint64(1<<64-1))
	}
	if err != nil {
		return 0, badf("%s must be an integer, got %s", name, s)
	}
	if positive && v == 0 {
		return 0, badf("%s must be positive, got 0", name)
	}
	return v, nil
}

// handleChain streams the main chain: {"chain":[...],"length":N}.
func (s *server) handleChain(w http.ResponseWriter, r *http.Request) {
	blocks, err := s.mainChain(r.Context())
	if err != nil {
		writeErr(w, err)
		return
	}
	streamChain(w, `{"chain":`, blocks, fmt.Sprintf(`,"length":%d}`, len(blocks)))
}

var errChainChanging = errors.New("the chain kept changing while it was read; try again")

// mainChain reads the main chain page by page. A reorg between two pages
// would mix branches, so each page must link to the one before; if one
// does not, reading starts over.
func (s *server) mainChain(ctx context.Context) ([]*chain.Block, error) {
	c := s.n.Chain()
	for range 5 {
		tip := c.Tip()
		blocks := make([]*chain.Block, 0, tip.Index)
		linked := true
		for from := uint64(1); from <= tip.Index && linked; {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			page, err := c.MainBlocks(from, int(min(uint64(s.opts.ChainPageSize), tip.Index-from+1)))
			if err != nil {
				return nil, err
			}
			if len(page) == 0 { // a reorg to a shorter chain with more work
				linked = false
				break
			}
			if len(blocks) > 0 && page[0].PrevHash != blocks[len(blocks)-1].Hash() {
				linked = false
				break
			}
			blocks = append(blocks, page...)
			from += uint64(len(page))
		}
		if linked {
			return blocks, nil
		}
	}
	return nil, errChainChanging
}

// streamChain writes prefix, the blocks as a JSON array, then suffix,
// encoding one block at a time.
func streamChain(w http.ResponseWriter, prefix string, blocks []*chain.Block, suffix string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	bw.WriteString(prefix)
	bw.WriteByte('[')
	for i, b := range blocks {
		if i > 0 {
			bw.WriteByte(',')
		}
		data, err := json.Marshal(b.JSON())
		if err != nil {
			panic(http.ErrAbortHandler) // a truncated reply must not look complete
		}
		if _, err := bw.Write(data); err != nil {
			return // the client went away
		}
	}
	bw.WriteByte(']')
	bw.WriteString(suffix)
	bw.WriteByte('\n')
	bw.Flush()
}

// handleResolve runs the tutorial's consensus: every connected peer with
// more work is asked for its whole chain. Peers that could not be asked are
// listed in "errors"; they do not make the answer fail.
func (s *server) handleResolve(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.ResolveTimeout)
	defer cancel()
	changed, err := s.n.Resolve(ctx)
	if !changed && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		writeError(w, http.StatusGatewayTimeout, "resolve did not finish within %s: %v", s.opts.ResolveTimeout, err)
		return
	}
	blocks, cerr := s.mainChain(r.Context())
	if cerr != nil {
		writeErr(w, cerr)
		return
	}
	if changed {
		streamChain(w, `{"message":"Our chain was replaced","new_chain":`, blocks, "}")
		return
	}
	prefix := `{"message":"Our chain is authoritative",`
	if err != nil {
		msgs, _ := json.Marshal(errorList(err))
		prefix += `"errors":` + string(msgs) + ","
	}
	streamChain(w, prefix+`"chain":`, blocks, "}")
}

// errorList splits a joined error into its messages.
func errorList(err error) []string {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, e.Error())
		}
		return out
	}
	return []string{err.Error()}
}

// statusResponse is GET /status. Difficulty is the head's compact bits, as
// in each block's "difficulty"; LeadingZeroBits is the same difficulty in
// the --difficulty flag's unit (floor(256 - log2(target+1))).
type statusResponse struct {
	PeerID  string   `json:"peer_id"`
	Addrs   []string `json:"addrs"`
	Address string   `json:"address"`
	Index   uint64   `json:"index"`
	Head    string   `json:"head"`
	Peers   int      `json:"peers"`
	Mempool int      `json:"mempool"`
	// Parked: stored transactions waiting to become admissible (a nonce
	// gap, funds not mined yet); ParkedAcknowledged: those this node
	// acknowledged (a 201), which it must still get mined.
	Parked             int     `json:"parked"`
	ParkedAcknowledged int     `json:"parked_acknowledged"`
	Difficulty         uint32  `json:"difficulty"`
	LeadingZeroBits    int     `json:"leading_zero_bits"`
	Mining             bool    `json:"mining"`
	HashRate           float64 `json:"hashrate"`
	Genesis            string  `json:"genesis"`
	Network            string  `json:"network"`
	Work               string  `json:"work"`
	// Bootstrap is each bootstrap peer's state (connected, connecting,
	// retrying with its last error and next retry).
	Bootstrap []node.BootstrapStatus `json:"bootstrap"`
	// Reachability is AutoNAT's verdict: public, private or unknown.
	Reachability string   `json:"reachability"`
	RelayAddrs   []string `json:"relay_addrs"`
	// OtherPeers counts connected libp2p peers that are not chain peers
	// (DHT nodes, relays, other networks' nodes).
	OtherPeers int `json:"other_peers"`
}

func (s *server) handleStatus(w http.ResponseWriter, r *http.Request) {
	st := s.n.Status()
	addrs := st.Addrs
	if addrs == nil {
		addrs = []string{}
	}
	boot := s.n.BootstrapStatus()
	if boot == nil {
		boot = []node.BootstrapStatus{}
	}
	relays := st.RelayAddrs
	if relays == nil {
		relays = []string{}
	}
	writeJSON(w, http.StatusOK, statusResponse{
		PeerID:             st.PeerID,
		Addrs:              addrs,
		Address:            st.Address.String(),
		Index:              st.Index,
		Head:               st.Head.String(),
		Peers:              st.Peers,
		Mempool:            st.Mempool,
		Parked:             st.Parked,
		ParkedAcknowledged: st.ParkedAcknowledged,
		Difficulty:         st.Bits,
		LeadingZeroBits:    LeadingZeroBits(st.Bits),
		Mining:             st.Mining,
		HashRate:           st.HashRate,
		Genesis:            st.Genesis.String(),
		Network:            s.n.Chain().Params().Name,
		Work:               st.Work.String(),
		Bootstrap:          boot,
		Reachability:       st.Reachability,
		RelayAddrs:         relays,
		OtherPeers:         st.OtherPeers,
	})
}

// LeadingZeroBits converts compact bits to the number of leading zero bits
// a hash needs at least (16 for the tutorial's "0000"); 0 for invalid bits.
func LeadingZeroBits(bits uint32) int {
	t, err := pow.TargetFromBits(bits)
	if err != nil {
		return 0
	}
	return 256 - t.BitLen()
}

type healthResponse struct {
	Status string `json:"status"`
	Index  uint64 `json:"index"`
}

func (s *server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, healthResponse{Status: "ok", Index: s.n.Chain().Tip().Index})
}

type peersResponse struct {
	Peers []node.PeerInfo `json:"peers"`
	Total int             `json:"total"`
}

func (s *server) handlePeers(w http.ResponseWriter, r *http.Request) {
	peers := s.n.Peers()
	if peers == nil {
		peers = []node.PeerInfo{}
	}
	writeJSON(w, http.StatusOK, peersResponse{Peers: peers, Total: len(peers)})
}

type pendingResponse struct {
	Transactions []chain.TxJSON `json:"transactions"`
	Count        int            `json:"count"`
}

func (s *server) handlePending(w http.ResponseWriter, r *http.Request) {
	txs := s.n.Chain().Mempool().Pending()
	out := make([]chain.TxJSON, len(txs))
	for i, tx := range txs {
		out[i] = tx.JSON()
	}
	writeJSON(w, http.StatusOK, pendingResponse{Transactions: out, Count: len(out)})
}

// blockResponse is a block and whether it is on the main chain (a block
// looked up by hash may be on a side branch).
type blockResponse struct {
	chain.BlockJSON
	MainChain bool `json:"main_chain"`
}

// handleBlock looks a block up by main-chain index (decimal) or by hash
// (64 hex characters).
func (s *server) handleBlock(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	c := s.n.Chain()
	var b *chain.Block
	var err error
	switch {
	case len(id) == 64:
		var h chain.Hash
		if h, err = chain.ParseHash(id); err != nil {
			writeError(w, http.StatusBadRequest, "block id %q: want an index or a 64-hex-character hash", id)
			return
		}
		b, err = c.BlockByHash(h)
	case id != "" && strings.Trim(id, "0123456789") == "":
		i, perr := strconv.ParseUint(id, 10, 64)
		if perr != nil {
			writeError(w, http.StatusBadRequest, "block index %q is out of range", id)
			return
		}
		b, err = c.BlockByIndex(i)
	default:
		writeError(w, http.StatusBadRequest, "block id %q: want an index or a 64-hex-character hash", id)
		return
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, blockResponse{BlockJSON: b.JSON(), MainChain: c.IsMain(b.Hash())})
}

type balanceResponse struct {
	Address string `json:"address"`
	Balance uint64 `json:"balance"`
	Nonce   uint64 `json:"nonce"` // the next transaction's nonce, counting pending ones
}

func (s *server) handleBalance(w http.ResponseWriter, r *http.Request) {
	a, err := chain.ParseAddress(r.PathValue("address"))
	if err != nil {
		writeErr(w, err)
		return
	}
	acct, next := s.n.Balance(a)
	writeJSON(w, http.StatusOK, balanceResponse{Address: a.String(), Balance: acct.Balance, Nonce: next})
}

type miningResponse struct {
	Message string `json:"message"`
	Mining  bool   `json:"mining"`
}

func (s *server) handleMiningStart(w http.ResponseWriter, r *http.Request) {
	s.n.StartMining()
	writeJSON(w, http.StatusOK, miningResponse{Message: "Mining started", Mining: s.n.Mining()})
}

func (s *server) handleMiningStop(w http.ResponseWriter, r *http.Request) {
	s.n.StopMining()
	writeJSON(w, http.StatusOK, miningResponse{Message: "Mining stopped", Mining: s.n.Mining()})
}

type indexResponse struct {
	Name      string   `json:"name"`
	Endpoints []string `json:"endpoints"`
}

func (s *server) handleIndex(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Vary", "Accept")
	if s.opts.Web != nil && wantsHTML(r) {
		s.opts.Web.ServeHTTP(w, r) // web.go
		return
	}
	writeJSON(w, http.StatusOK, indexResponse{Name: "gossipchain", Endpoints: s.routes})
}
