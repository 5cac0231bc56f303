package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	"github.com/gossipchain/gossipchain/node"
)

// newNode starts a real node on loopback with the easy test network.
func newNode(t *testing.T) *node.Node {
	t.Helper()
	n, err := node.New(context.Background(), node.Config{
		DataDir:      t.TempDir(),
		Params:       chain.TestParams(),
		ListenAddrs:  []string{"/ip4/127.0.0.1/tcp/0"},
		MDNS:         false,
		MinerWorkers: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// runScript runs a pipe-mode session over script and returns its output.
func runScript(t *testing.T, n *node.Node, script string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := Run(ctx, n, strings.NewReader(script), &out, Options{}); err != nil {
		t.Fatalf("Run: %v\noutput:\n%s", err, out.String())
	}
	return out.String()
}

// inOrder checks that each fragment appears in out after the previous one.
func inOrder(t *testing.T, out string, fragments ...string) {
	t.Helper()
	at := 0
	for _, f := range fragments {
		i := strings.Index(out[at:], f)
		if i < 0 {
			t.Fatalf("missing %q after offset %d in output:\n%s", f, at, out)
		}
		at += i + len(f)
	}
}

func TestPipeSession(t *testing.T) {
	n := newNode(t)
	other := chain.NewWallet().Address()
	me := n.Address()
	script := strings.Join([]string{
		"help",
		"status",
		"mine 2",
		"chain",
		"balance",
		fmt.Sprintf("send %s 5 1", other),
		"mempool",
		"mine",
		"block 4",
		fmt.Sprintf("balance %s", other),
		// Mistakes: each prints what is wrong and the usage, and the
		// session goes on.
		"frobnicate",
		"stauts",
		"send",
		"send zz 5",
		fmt.Sprintf("send %s -1", other),
		fmt.Sprintf("send %s 0", other),
		fmt.Sprintf("send %s 1.5", other),
		fmt.Sprintf("send %s 5 x", other),
		fmt.Sprintf("send %s 1000000", other),
		"mine x",
		"mine 1 2",
		"block 999",
		"block zz",
		"block 00000000",
		"chain 0",
		"balance zz",
		"connect /ip4/127.0.0.1/tcp/1",
		"help nope",
		"",
		"   # a comment",
		"STATUS",
	}, "\n") // no newline after the last line: it still counts
	out := runScript(t, n, script)

	if strings.Contains(out, "\x1b") || strings.Contains(out, DefaultPrompt) {
		t.Errorf("pipe output has escape codes or a prompt:\n%s", out)
	}
	b4, err := n.Chain().BlockByIndex(4)
	if err != nil {
		t.Fatal(err)
	}
	if len(b4.Txs) != 2 {
		t.Fatalf("block 4 has %d txs, want the coinbase and the send", len(b4.Txs))
	}
	sent := b4.Txs[1]
	inOrder(t, out,
		// help
		"commands:", "send ADDRESS AMOUNT [FEE]", "quit, exit",
		// status
		"peer id", n.ID().String(), "wallet", me.String(), "head", "#1 ",
		// mine 2
		"mined block #2", "mined block #3",
		// chain: genesis and both blocks, oldest first
		"#1 ", "#2 ", "#3 ",
		// balance
		"address", me.String()+" (you)", "balance  100", "nonce    0",
		// send
		fmt.Sprintf("sent 5 to %s (fee 1, nonce 0)", other), "tx "+sent.ID().String()+" pending",
		// mempool
		"1 transaction pending", shortHash(sent.ID()), "you -> "+shortString(other.String()), "amount 5", "fee 1",
		// mine
		"mined block #4", "(2 txs, coinbase 51)",
		// block 4
		"block #4 (main chain, 1 confirmation)", "hash", b4.Hash().String(), "previous",
		"[0] coinbase", "amount 51",
		"[1] tx "+sent.ID().String(), "from   "+me.String()+" (you)", "to     "+other.String(), "amount 5  fee 1  nonce 0",
		// balance other
		"address", other.String(), "balance  5", "nonce    0",
		// mistakes
		`error: unknown command "frobnicate"; type "help"`,
		`error: unknown command "stauts" (did you mean "status"?)`,
		"error: send: missing arguments", "usage: send ADDRESS AMOUNT [FEE]",
		`error: send: recipient "zz"`, "usage: send ADDRESS AMOUNT [FEE]",
		`error: amount "-1": want a positive whole number`, "usage: send ADDRESS AMOUNT [FEE]",
		`error: amount "0": want a positive whole number`, "usage: send",
		`error: amount "1.5": want a positive whole number`, "usage: send",
		`error: fee "x"`, "usage: send",
		"error: send: ", "insufficient balance",
		`error: mine: N "x": want a whole number`, "usage: mine [N] | start | stop",
		"error: mine: too many arguments", "usage: mine",
		"error: block 999: no such block; the main chain runs from #1 to #4", "usage: block INDEX|HASH",
		`error: block "zz": want a block index or a block hash`, "usage: block INDEX|HASH",
		"error: block 00000000: no main-chain block hash starts with that", "usage: block",
		`error: chain: N "0"`, "usage: chain [N]",
		`error: balance: "zz"`, "usage: balance [ADDRESS]",
		"error: connect: ", "usage: connect MULTIADDR",
		`error: help: unknown command "nope"`, "usage: help [COMMAND]",
		// the session went on to its last line
		"peer id", n.ID().String(),
	)
	// "insufficient balance" is not a wrong argument: no usage line.
	for l := range strings.Lines(out) {
		if strings.Contains(l, "insufficient balance") && strings.Contains(out, l+"usage:") {
			t.Errorf("insufficient balance printed a usage line:\n%s", out)
		}
	}

	if acct, _ := n.Balance(other); acct.Balance != 5 {
		t.Errorf("balance of recipient = %d, want 5", acct.Balance)
	}
	if acct, next := n.Balance(me); acct.Balance != 3*50-5 || next != 1 {
		t.Errorf("own account = %+v next nonce %d, want 145 and 1", acct, next)
	}
	if n.Chain().Mempool().Len() != 0 {
		t.Errorf("mempool not empty after mining")
	}
}

func TestPipeBlockByHash(t *testing.T) {
	n := newNode(t)
	b, err := n.MineBlock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h := b.Hash().String()
	out := runScript(t, n, "block "+h+"\nblock "+h[:12]+"\nblock "+strings.ToUpper(h[:10])+"\n")
	inOrder(t, out, "block #2 (main chain", h, "block #2 (main chain", h, "block #2 (main chain", h)
	if strings.Contains(out, "error") {
		t.Errorf("unexpected error:\n%s", out)
	}
}

func TestPipeQuitEndsSession(t *testing.T) {
	n := newNode(t)
	for _, q := range []string{"quit", "exit", "QUIT"} {
		out := runScript(t, n, "mine\n"+q+"\nmine\nmine\n")
		if strings.Count(out, "mined block") != 1 {
			t.Errorf("%s: commands after it ran:\n%s", q, out)
		}
	}
	if got := n.Chain().Tip().Index; got != 4 {
		t.Errorf("head #%d, want #4", got)
	}
}

func TestPipeContextCancel(t *testing.T) {
	n := newNode(t)
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, n, pr, out, Options{}) }()
	if _, err := io.WriteString(pw, "mine\n"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, func() bool { return strings.Contains(out.String(), "mined block #2") })
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestPipeLongLine(t *testing.T) {
	n := newNode(t)
	long := strings.Repeat("x", MaxLineBytes+100)
	out := runScript(t, n, "status\n"+long+"\nbalance\n"+long)
	inOrder(t, out, "peer id",
		fmt.Sprintf("error: line longer than %d bytes skipped", MaxLineBytes),
		"balance  0",
		fmt.Sprintf("error: line longer than %d bytes skipped", MaxLineBytes))
	if strings.Contains(out, "unknown command") {
		t.Errorf("part of the long line ran as a command:\n%s", out)
	}
}

func TestPanicInCommandIsReported(t *testing.T) {
	n := newNode(t)
	var out bytes.Buffer
	s := newSession(n, &out, discardLogger())
	s.cmds = append(s.cmds, &command{name: "boom", maxArgs: 0, run: func(context.Context, *session, []string) error {
		panic("kaboom")
	}})
	if quit := s.exec(context.Background(), "boom"); quit {
		t.Fatal("panic ended the session")
	}
	if !strings.Contains(out.String(), "error: boom: internal error: kaboom") {
		t.Errorf("output %q", out.String())
	}
}

func TestMineStartStop(t *testing.T) {
	n := newNode(t)
	out := runScript(t, n, "mine start\nmine start\nstatus\nmine stop\nmine stop\n")
	inOrder(t, out, "mining started", "already mining", "mining", "on, ", "mining stopped", "not mining")
	if n.Mining() {
		t.Error("still mining")
	}
}

func TestComplete(t *testing.T) {
	s := newSession(nil, io.Discard, discardLogger())
	var listed []string
	s.list = func(c []string) { listed = c }
	for _, tc := range []struct {
		line    string
		pos     int // -1: end of line
		want    string
		wantPos int // -1: end of want
		listed  string
	}{
		{line: "sta", pos: -1, want: "status", wantPos: -1},
		{line: "bal", pos: -1, want: "balance ", wantPos: -1},
		{line: "me", pos: -1, want: "mempool", wantPos: -1},
		{line: "m", pos: -1, want: "m", wantPos: -1, listed: "mine mempool"},
		{line: "b", pos: -1, want: "b", wantPos: -1, listed: "bans block balance"},
		{line: "unb", pos: -1, want: "unban ", wantPos: -1},
		{line: "unban a", pos: -1, want: "unban all", wantPos: -1},
		{line: "e", pos: -1, want: "exit", wantPos: -1},
		{line: "mine s", pos: -1, want: "mine st", wantPos: -1},
		{line: "mine st", pos: -1, want: "mine st", wantPos: -1, listed: "start stop"},
		{line: "mine sta", pos: -1, want: "mine start", wantPos: -1},
		{line: "mine sto", pos: -1, want: "mine stop", wantPos: -1},
		{line: "mine ", pos: -1, want: "mine st", wantPos: -1},
		{line: "help se", pos: -1, want: "help send", wantPos: -1},
		{line: "send x", pos: -1, want: "send x", wantPos: -1},
		{line: "zz", pos: -1, want: "zz", wantPos: -1},
		{line: "sta foo", pos: 3, want: "status foo", wantPos: 6},
		{line: "", pos: -1, want: "", wantPos: -1, listed: strings.Join([]string{"help", "status", "peers", "bans", "unban", "connect", "send", "mine", "chain", "block", "balance", "wallet", "mempool", "resolve", "quit", "exit"}, " ")},
	} {
		listed = nil
		pos := tc.pos
		if pos < 0 {
			pos = len(tc.line)
		}
		got, gotPos, ok := s.complete(tc.line, pos, '\t')
		wantPos := tc.wantPos
		if wantPos < 0 {
			wantPos = len(tc.want)
		}
		if !ok || got != tc.want || gotPos != wantPos {
			t.Errorf("complete(%q, %d) = %q, %d, %v; want %q, %d", tc.line, pos, got, gotPos, ok, tc.want, wantPos)
		}
		if strings.Join(listed, " ") != tc.listed {
			t.Errorf("complete(%q) listed %q, want %q", tc.line, listed, tc.listed)
		}
	}
	if _, _, ok := s.complete("sta", 3, 'x'); ok {
		t.Error("a key other than TAB was taken")
	}
}

func TestEventFormat(t *testing.T) {
	n := newNode(t)
	s := newSession(n, io.Discard, discardLogger())
	f := &eventFormatter{s: s, peers: map[string]bool{}}
	var blocks []*chain.Block
	for range 6 {
		b, err := n.MineBlock(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		blocks = append(blocks, b)
	}
	const p = "12D3KooWQxyzabcdefghijklmnopqrstuvwxyz0123456789ABCD"
	ev := func(b *chain.Block, src string) node.Event {
		return node.Event{Kind: node.EventBlockAdded, Block: b, Source: src, Index: b.Index}
	}
	// A burst from one peer is one line; a few are one line each.
	var burst []node.Event
	for _, b := range blocks {
		burst = append(burst, ev(b, p))
	}
	got := f.format(burst)
	want := fmt.Sprintf("* 6 blocks #2..#7 from peer ..%s, head %s\n", p[len(p)-10:], shortHash(blocks[5].Hash()))
	if got != want {
		t.Errorf("burst: got %q, want %q", got, want)
	}
	got = f.format([]node.Event{ev(blocks[0], p), ev(blocks[1], "")})
	if strings.Count(got, "\n") != 2 || !strings.Contains(got, "* block #2 ") || !strings.Contains(got, "from a peer") {
		t.Errorf("two blocks: %q", got)
	}
	// Our own blocks printed by a mine command are not printed again.
	s.notePrinted(blocks[2].Hash())
	if got := f.format([]node.Event{ev(blocks[2], "local")}); got != "" {
		t.Errorf("own printed block: %q", got)
	}
	if got := f.format([]node.Event{ev(blocks[3], "local")}); !strings.HasPrefix(got, "* mined block #5 ") {
		t.Errorf("own block mined continuously: %q", got)
	}
	// Each peer joins and leaves once, however many connections it has.
	var id = n.ID() // any peer ID will do
	joined := node.Event{Kind: node.EventPeerConnected, Peer: id}
	lost := node.Event{Kind: node.EventPeerLost, Peer: id}
	got = f.format([]node.Event{joined, joined, lost, lost})
	want = fmt.Sprintf("* peer joined %s (1 peer)\n* peer left %s (0 peers)\n", id, id)
	if got != want {
		t.Errorf("peers: got %q, want %q", got, want)
	}
	got = f.format([]node.Event{{Kind: node.EventReorg, Source: p, Disconnected: 2, Connected: 3, Index: 9}})
	if want := "* reorg from peer .." + p[len(p)-10:] + ": 2 blocks replaced by 3, head now #9\n"; got != want {
		t.Errorf("reorg: got %q, want %q", got, want)
	}
	tx := chain.NewWallet().NewTx(n.Chain().GenesisHash(), n.Address(), 7, 2, 0)
	got = f.format([]node.Event{{Kind: node.EventTxReceived, Tx: tx, Source: p}, {Kind: node.EventTxReceived, Tx: tx, Source: "local"}})
	if !strings.HasPrefix(got, "* tx "+shortHash(tx.ID())) || !strings.Contains(got, ": 7 ") || !strings.Contains(got, "-> you (fee 2)") || strings.Count(got, "\n") != 1 {
		t.Errorf("tx: %q", got)
	}
}

// Helpers.

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// waitUntil polls cond with a deadline.
func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
