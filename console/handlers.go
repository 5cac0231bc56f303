package console

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	"github.com/gossipchain/gossipchain/node"
	"github.com/gossipchain/gossipchain/pow"
)

// The command handlers. Each builds its output and prints it; none holds
// chain logic.

func cmdHelp(_ context.Context, s *session, args []string) error {
	var b bytes.Buffer
	if len(args) == 1 {
		c := s.lookup(args[0])
		if c == nil {
			return usagef("help: unknown command %q", args[0])
		}
		fmt.Fprintf(&b, "usage: %s\n  %s\n", c.line(), c.help)
		if len(c.aliases) > 0 {
			fmt.Fprintf(&b, "  also: %s\n", strings.Join(c.aliases, ", "))
		}
		s.printf("%s", b.String())
		return nil
	}
	b.WriteString("commands:\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, c := range s.cmds {
		names := strings.Join(c.names(), ", ")
		usage := names
		if c.usage != "" {
			usage += " " + c.usage
		}
		fmt.Fprintf(tw, "  %s\t%s\n", usage, c.help)
	}
	tw.Flush()
	if s.list != nil {
		b.WriteString("TAB completes a command, up/down recall earlier lines, Ctrl-C interrupts a\nrunning command, Ctrl-D (or Ctrl-C at the prompt) leaves.\n")
	}
	s.printf("%s", b.String())
	return nil
}

func cmdStatus(_ context.Context, s *session, _ []string) error {
	st := s.n.Status()
	tip := s.n.Chain().Tip()
	p := s.n.Chain().Params()
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "peer id\t%s\n", st.PeerID)
	if len(st.Addrs) == 0 {
		fmt.Fprintf(tw, "addresses\t(none)\n")
	}
	for i, a := range st.Addrs {
		label := ""
		if i == 0 {
			label = "addresses"
		}
		fmt.Fprintf(tw, "%s\t%s\n", label, a)
	}
	fmt.Fprintf(tw, "wallet\t%s\n", st.Address)
	fmt.Fprintf(tw, "network\t%s, genesis %s\n", p.Name, shortHash(st.Genesis))
	fmt.Fprintf(tw, "head\t#%d %s\n", st.Index, st.Head)
	fmt.Fprintf(tw, "head time\t%s\n", fmtTime(tip.Time))
	fmt.Fprintf(tw, "difficulty\t%s\n", fmtBits(st.Bits))
	fmt.Fprintf(tw, "total work\t%s hashes\n", fmtWork(st.Work))
	fmt.Fprintf(tw, "peers\t%d (and %d other libp2p peers: DHT, relays)\n", st.Peers, st.OtherPeers)
	fmt.Fprintf(tw, "reachability\t%s\n", st.Reachability)
	for i, a := range st.RelayAddrs {
		label := ""
		if i == 0 {
			label = "relay addresses"
		}
		fmt.Fprintf(tw, "%s\t%s\n", label, a)
	}
	fmt.Fprintf(tw, "mempool\t%s pending\n", plural(st.Mempool, "transaction"))
	mining := "off"
	if st.Mining {
		mining = "on, " + fmtRate(st.HashRate)
	}
	fmt.Fprintf(tw, "mining\t%s\n", mining)
	for i, bs := range s.n.BootstrapStatus() {
		label := ""
		if i == 0 {
			label = "bootstrap"
		}
		line := fmt.Sprintf("%s %s", bs.Peer, bs.State)
		if bs.State != node.BootstrapConnected && bs.LastError != "" {
			line += fmt.Sprintf(" (%d failed dials, last: %s", bs.Failures, bs.LastError)
			if bs.NextRetry != nil {
				line += fmt.Sprintf("; next try %s", bs.NextRetry.Format(time.TimeOnly))
			}
			line += ")"
		}
		fmt.Fprintf(tw, "%s\t%s\n", label, line)
	}
	tw.Flush()
	s.printf("%s", b.String())
	return nil
}

func cmdPeers(_ context.Context, s *session, _ []string) error {
	peers := s.n.Peers()
	if len(peers) == 0 {
		s.printf("no peers\n")
		return nil
	}
	slices.SortFunc(peers, func(a, b node.PeerInfo) int { return cmp.Compare(a.ID, b.ID) })
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s:\n", plural(len(peers), "peer"))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, p := range peers {
		head := "head unknown"
		if p.Head != "" {
			head = fmt.Sprintf("#%d %s", p.Index, shortString(p.Head))
		}
		fmt.Fprintf(tw, "  %s\t%s\tscore %.1f\t%s\t%s\n", p.ID, head, p.Score, p.Connection, strings.Join(p.Addrs, " "))
	}
	tw.Flush()
	s.printf("%s", b.String())
	return nil
}

func cmdConnect(ctx context.Context, s *session, args []string) error {
	if _, err := node.ParsePeerAddr(args[0]); err != nil {
		return usagef("connect: %v", err)
	}
	id, err := s.n.Connect(ctx, args[0])
	if err != nil {
		return err
	}
	s.printf("connected to %s\n", id)
	return nil
}

func cmdSend(ctx context.Context, s *session, args []string) error {
	to, err := chain.ParseAddress(args[0])
	if err != nil {
		return usagef("send: recipient %q: want the 64 hex digits of an address", args[0])
	}
	amount, err := parseAmount("amount", args[1])
	if err != nil {
		return err
	}
	var fee uint64
	if len(args) == 3 {
		if fee, err = parseFee(args[2]); err != nil {
			return err
		}
	}
	tx, err := s.n.Send(ctx, to, amount, fee)
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	s.printf("sent %d to %s (fee %d, nonce %d)\ntx %s pending\n", tx.Amount, tx.Recipient, tx.Fee, tx.Nonce, tx.ID())
	return nil
}

func cmdMine(ctx context.Context, s *session, args []string) error {
	count := 1
	if len(args) == 1 {
		switch strings.ToLower(args[0]) {
		case "start":
			if s.n.Mining() {
				s.printf("already mining\n")
				return nil
			}
			s.n.StartMining()
			s.printf("mining started\n")
			return nil
		case "stop":
			if !s.n.Mining() {
				s.printf("not mining\n")
				return nil
			}
			s.n.StopMining()
			s.printf("mining stopped\n")
			return nil
		}
		var err error
		if count, err = parseCount("mine: N", args[0]); err != nil {
			return err
		}
	}
	s.mining.Add(1)
	defer s.mining.Add(-1)
	for i := range count {
		b, err := s.n.MineBlock(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("mine: interrupted after %s", plural(i, "block"))
			}
			return fmt.Errorf("mine: %w", err)
		}
		s.notePrinted(b.Hash())
		s.printf("mined block #%d %s (%s, coinbase %d)\n", b.Index, shortHash(b.Hash()), plural(len(b.Txs), "tx"), b.Txs[0].Amount)
	}
	return nil
}

func cmdChain(_ context.Context, s *session, args []string) error {
	count := 10
	if len(args) == 1 {
		var err error
		if count, err = parseCount("chain: N", args[0]); err != nil {
			return err
		}
	}
	tip := s.n.Chain().Tip()
	from := uint64(1)
	if tip.Index > uint64(count) {
		from = tip.Index - uint64(count) + 1
	}
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	const batch = 500
	for i := from; i <= tip.Index; i += batch {
		blocks, err := s.n.Chain().MainBlocks(i, int(min(batch, tip.Index-i+1)))
		if err != nil {
			return fmt.Errorf("chain: %w", err)
		}
		for _, blk := range blocks {
			fmt.Fprintf(tw, "#%d\t%s\t%s\t%s\n", blk.Index, shortHash(blk.Hash()), plural(len(blk.Txs), "tx"), fmtTime(blk.Time()))
		}
	}
	tw.Flush()
	s.printf("%s", b.String())
	return nil
}

func cmdBlock(_ context.Context, s *session, args []string) error {
	b, err := s.findBlock(args[0])
	if err != nil {
		return err
	}
	c := s.n.Chain()
	h := b.Hash()
	where := "side branch"
	if c.IsMain(h) {
		conf := c.Tip().Index - b.Index + 1
		where = fmt.Sprintf("main chain, %s", plural(int(conf), "confirmation"))
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "block #%d (%s)\n", b.Index, where)
	tw := tabwriter.NewWriter(&out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  hash\t%s\n", h)
	fmt.Fprintf(tw, "  previous\t%s\n", b.PrevHash)
	fmt.Fprintf(tw, "  merkle root\t%s\n", b.MerkleRoot)
	fmt.Fprintf(tw, "  time\t%s (%d ms)\n", fmtTime(b.Time()), b.Timestamp)
	fmt.Fprintf(tw, "  difficulty\t%s\n", fmtBits(b.Bits))
	fmt.Fprintf(tw, "  proof\t%d\n", b.Nonce)
	fmt.Fprintf(tw, "  size\t%d bytes\n", b.Size())
	tw.Flush()
	fmt.Fprintf(&out, "  %s:\n", plural(len(b.Txs), "transaction"))
	for i, tx := range b.Txs {
		if tx.IsCoinbase() {
			fmt.Fprintf(&out, "  [%d] coinbase %s\n", i, tx.ID())
			fmt.Fprintf(&out, "      to     %s\n", s.addr(tx.Recipient))
			fmt.Fprintf(&out, "      amount %d\n", tx.Amount)
			continue
		}
		fmt.Fprintf(&out, "  [%d] tx %s\n", i, tx.ID())
		fmt.Fprintf(&out, "      from   %s\n", s.addr(tx.Sender))
		fmt.Fprintf(&out, "      to     %s\n", s.addr(tx.Recipient))
		fmt.Fprintf(&out, "      amount %d  fee %d  nonce %d\n", tx.Amount, tx.Fee, tx.Nonce)
	}
	s.printf("%s", out.String())
	return nil
}

// minHashPrefix is the shortest hash prefix "block" looks up.
const minHashPrefix = 8

// findBlock reads a block by index, full hash, or a unique hash prefix of
// a main-chain block.
func (s *session) findBlock(arg string) (*chain.Block, error) {
	c := s.n.Chain()
	if isDigits(arg) && len(arg) < minHashPrefix {
		i, err := strconv.ParseUint(arg, 10, 64)
		if err == nil {
			if b, err := c.BlockByIndex(i); err == nil {
				return b, nil
			}
		}
		return nil, usagef("block %s: no such block; the main chain runs from #1 to #%d", arg, c.Tip().Index)
	}
	arg = strings.ToLower(arg)
	if _, err := hex.DecodeString(arg + strings.Repeat("0", len(arg)%2)); err != nil || len(arg) > 2*len(chain.Hash{}) {
		return nil, usagef("block %q: want a block index or a block hash (%d+ hex digits)", arg, minHashPrefix)
	}
	if len(arg) == 2*len(chain.Hash{}) {
		h, _ := chain.ParseHash(arg)
		b, err := c.BlockByHash(h)
		if err != nil {
			return nil, usagef("block %s: no such block", arg)
		}
		return b, nil
	}
	if len(arg) < minHashPrefix {
		return nil, usagef("block %s: a hash prefix needs %d+ hex digits", arg, minHashPrefix)
	}
	// Scan the main chain, newest first, for the prefix.
	var found *chain.Block
	const batch = 500
	for end := c.Tip().Index; end >= 1; {
		from := uint64(1)
		if end > batch {
			from = end - batch + 1
		}
		blocks, err := c.MainBlocks(from, int(end-from+1))
		if err != nil {
			return nil, fmt.Errorf("block: %w", err)
		}
		for _, b := range blocks {
			if strings.HasPrefix(b.Hash().String(), arg) {
				if found != nil {
					return nil, usagef("block %s: ambiguous prefix (#%d and #%d); give more digits", arg, found.Index, b.Index)
				}
				found = b
			}
		}
		end = from - 1
	}
	if found == nil {
		return nil, usagef("block %s: no main-chain block hash starts with that", arg)
	}
	return found, nil
}

func cmdBalance(_ context.Context, s *session, args []string) error {
	a := s.n.Address()
	if len(args) == 1 {
		var err error
		if a, err = chain.ParseAddress(args[0]); err != nil {
			return usagef("balance: %q: want the 64 hex digits of an address", args[0])
		}
	}
	acct, next := s.n.Balance(a)
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "address\t%s\n", s.addr(a))
	fmt.Fprintf(tw, "balance\t%d\n", acct.Balance)
	nonce := fmt.Sprintf("%d", acct.Nonce)
	if pending := next - acct.Nonce; pending > 0 {
		nonce += fmt.Sprintf(" (next transaction %d; %s pending)", next, plural(int(pending), "transaction"))
	}
	fmt.Fprintf(tw, "nonce\t%s\n", nonce)
	tw.Flush()
	s.printf("%s", b.String())
	return nil
}

func cmdMempool(_ context.Context, s *session, _ []string) error {
	txs := s.n.Chain().Mempool().Pending()
	if len(txs) == 0 {
		s.printf("mempool is empty\n")
		return nil
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s pending, best fee first:\n", plural(len(txs), "transaction"))
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, tx := range txs {
		fmt.Fprintf(tw, "  %s\t%s -> %s\tamount %d\tfee %d\tnonce %d\n",
			shortHash(tx.ID()), s.shortAddr(tx.Sender), s.shortAddr(tx.Recipient), tx.Amount, tx.Fee, tx.Nonce)
	}
	tw.Flush()
	s.printf("%s", b.String())
	return nil
}

func cmdResolve(ctx context.Context, s *session, _ []string) error {
	peers := len(s.n.Peers())
	changed, err := s.n.Resolve(ctx)
	tip := s.n.Chain().Tip()
	switch {
	case changed:
		s.printf("our chain was replaced: head now #%d %s\n", tip.Index, shortHash(tip.Hash))
		if err != nil {
			s.printf("(some peers failed: %v)\n", err)
		}
	case err != nil:
		return fmt.Errorf("resolve: %w", err)
	case peers == 0:
		s.printf("no peers to ask; our chain stands at #%d %s\n", tip.Index, shortHash(tip.Hash))
	default:
		s.printf("our chain is authoritative: #%d %s\n", tip.Index, shortHash(tip.Hash))
	}
	return nil
}

func cmdQuit(context.Context, *session, []string) error { return errQuit }

// Formatting.

// shortHash is the first 16 hex digits of a hash.
func shortHash(h chain.Hash) string { return h.String()[:16] }

// shortString cuts a hex string to 16 characters.
func shortString(s string) string {
	if len(s) > 16 {
		return s[:16]
	}
	return s
}

// addr writes an address in full, marking the node's own.
func (s *session) addr(a chain.Address) string {
	switch {
	case a == s.n.Address():
		return a.String() + " (you)"
	case a == chain.CoinbaseSender:
		return "0 (coinbase)"
	}
	return a.String()
}

// shortAddr is an address's first 16 hex digits, or "you".
func (s *session) shortAddr(a chain.Address) string {
	if a == s.n.Address() {
		return "you"
	}
	return shortString(a.String())
}

// shortPeer is the distinctive tail of a peer ID.
func shortPeer(id string) string {
	if id == "" {
		return "a peer"
	}
	if len(id) > 12 {
		return "peer .." + id[len(id)-10:]
	}
	return "peer " + id
}

func fmtTime(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") }

// fmtBits shows compact difficulty bits with their rough zero-bit count.
func fmtBits(bits uint32) string {
	w := pow.Work(bits)
	return fmt.Sprintf("bits 0x%08x (~%d leading zero bits, ~%s hashes a block)", bits, max(w.BitLen()-1, 0), fmtWork(w))
}

// fmtWork writes a hash count compactly.
func fmtWork(w *big.Int) string {
	if w == nil {
		return "0"
	}
	if w.IsInt64() && w.Int64() < 1e9 {
		return w.String()
	}
	f, _ := new(big.Float).SetInt(w).Float64()
	return strconv.FormatFloat(f, 'g', 4, 64)
}

func fmtRate(r float64) string {
	switch {
	case r >= 1e9:
		return fmt.Sprintf("%.2f GH/s", r/1e9)
	case r >= 1e6:
		return fmt.Sprintf("%.2f MH/s", r/1e6)
	case r >= 1e3:
		return fmt.Sprintf("%.2f kH/s", r/1e3)
	}
	return fmt.Sprintf("%.0f H/s", r)
}

// plural writes "1 tx", "2 txs".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
