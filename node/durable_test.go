package node

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/chain"
)

// txCrashDirEnv tells the test binary, re-executed by
// TestCrashKeepsAcknowledgedTxs, to run TestTxCrashChild on that directory.
const txCrashDirEnv = "GOSSIPCHAIN_TXCRASH_CHILD_DIR"

// TestCrashKeepsAcknowledgedTxs kills (SIGKILL) a node process right after
// it acknowledged transactions (SubmitTx returned nil, as before a 201),
// while it is also mining, and checks that after a restart every
// acknowledged transaction is pending or on the main chain. Three rounds in
// one data directory.
func TestCrashKeepsAcknowledgedTxs(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	dir := t.TempDir()
	acked := make(map[chain.Hash]bool)
	for round := range 3 {
		want := 40 + rand.IntN(60)
		ids := runTxCrashChild(t, dir, want)
		for _, id := range ids {
			acked[id] = true
		}
		n := testNode(t, dir)
		pending, mined := 0, 0
		for id := range acked {
			switch {
			case n.Chain().Mempool().Has(id):
				pending++
			case txOnMain(n, id):
				mined++
			default:
				n.Close()
				t.Fatalf("round %d: acknowledged tx %s is neither pending nor mined after the SIGKILL (head %d)", round, id, n.Chain().Tip().Index)
			}
		}
		t.Logf("round %d: killed after %d acks; all %d acknowledged so far: %d pending, %d mined", round, len(ids), len(acked), pending, mined)
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// runTxCrashChild starts the child on dir, reads acknowledged ids until it
// has n, and kills it at once.
func runTxCrashChild(t *testing.T, dir string, n int) []chain.Hash {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestTxCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), txCrashDirEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var ids []chain.Hash
	var other []string
	sc := bufio.NewScanner(out)
	for len(ids) < n && sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 || f[0] != "ACK" {
			other = append(other, sc.Text())
			continue
		}
		id, err := chain.ParseHash(f[1])
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("bad ack %q", sc.Text())
		}
		ids = append(ids, id)
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no Close, no compaction
		t.Fatal(err)
	}
	err = cmd.Wait()
	if len(ids) < n {
		t.Fatalf("child stopped after %d of %d acks (%v)\nstdout: %s\nstderr: %s", len(ids), n, err, strings.Join(other, "\n"), stderr.String())
	}
	return ids
}

// TestTxCrashChild is the child: it funds three wallets, then submits
// signed transactions from them concurrently, and sends from the node's
// wallet, while mining, printing each acknowledgement.
func TestTxCrashChild(t *testing.T) {
	dir := os.Getenv(txCrashDirEnv)
	if dir == "" {
		t.Skip("run by TestCrashKeepsAcknowledgedTxs")
	}
	n := testNode(t, dir)
	ctx := context.Background()
	mineN(t, n, 3)
	ws := []*chain.Wallet{chain.NewWallet(), chain.NewWallet(), chain.NewWallet()}
	for _, w := range ws {
		if _, err := n.Send(ctx, w.Address(), 20, 1); err != nil {
			t.Fatal(err)
		}
	}
	mineN(t, n, 1)
	var outMu sync.Mutex
	ack := func(tx *chain.Tx) {
		outMu.Lock()
		fmt.Printf("ACK %s\n", tx.ID())
		outMu.Unlock()
	}
	go func() {
		for {
			n.MineBlock(ctx)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	var wg sync.WaitGroup
	to := chain.NewWallet().Address()
	for _, w := range ws {
		wg.Go(func() {
			for {
				acct, next := n.Balance(w.Address())
				if acct.Balance < 2 {
					return
				}
				tx := w.NewTx(n.Chain().GenesisHash(), to, 1, 1, next)
				if err := n.SubmitTx(ctx, tx); err != nil {
					if errors.Is(err, chain.ErrBadNonce) || errors.Is(err, chain.ErrInsufficientBalance) {
						continue // a block moved the state under us
					}
					t.Error(err)
					return
				}
				ack(tx)
			}
		})
	}
	wg.Go(func() {
		for {
			tx, err := n.Send(ctx, to, 1, 1)
			if err != nil {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			ack(tx)
		}
	})
	wg.Wait()
	select {} // wait for the kill
}

// A node whose disk fills refuses local transactions with an error naming
// the disk, keeps nothing it refused, and accepts again by itself once
// space returns; what it acknowledged survives a restart.
func TestDiskFullRefusesThenRecovers(t *testing.T) {
	dir := smallDisk(t, "32m")
	data := filepath.Join(dir, "data")
	// The log's reserve on a full disk: 26 records, fewer than the sends
	// below.
	reserve := func(c *Config) { c.TxLogPrealloc = 4096 }
	n := testNode(t, data, reserve)
	ctx := context.Background()
	mineN(t, n, 2)
	to := chain.NewWallet().Address()
	var acked []chain.Hash
	for range 3 {
		tx, err := n.Send(ctx, to, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		acked = append(acked, tx.ID())
	}
	free := fillDisk(t, dir)
	var refused error
	for range 100 {
		tx, err := n.Send(ctx, to, 1, 1)
		if err != nil {
			refused = err
			break
		}
		acked = append(acked, tx.ID())
	}
	if !errors.Is(refused, ErrDiskUnavailable) || !errors.Is(refused, syscall.ENOSPC) || !strings.Contains(refused.Error(), "disk holding") {
		t.Fatalf("send on a full disk: %v", refused)
	}
	t.Logf("refused: %v", refused)
	if n.Chain().Mempool().Len() != len(acked) {
		t.Fatalf("%d pending, %d acknowledged: the refused tx stayed", n.Chain().Mempool().Len(), len(acked))
	}
	free()
	deadline := time.Now().Add(5 * time.Second)
	for {
		tx, err := n.Send(ctx, to, 1, 1)
		if err == nil {
			acked = append(acked, tx.ID())
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still refused after space returned: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// A SIGKILL is not possible in-process; a Close that cannot compact
	// would not matter either: read the log as a restart does.
	n.Close()
	n2 := testNode(t, data, reserve)
	for _, id := range acked {
		if !n2.Chain().Mempool().Has(id) && !txOnMain(n2, id) {
			t.Fatalf("acknowledged tx %s lost", id)
		}
	}
}

// A logged transaction whose predecessor this node held only by gossip
// (so not in its log) is parked at replay, kept across restarts, and
// admitted once the predecessor arrives. It used to be dropped at replay:
// the chaos test lost acknowledgements that way.
func TestReplayParksNonceGap(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	n := testNode(t, dir)
	mineN(t, n, 2)
	w := chain.NewWallet()
	if _, err := n.Send(ctx, w.Address(), 20, 1); err != nil {
		t.Fatal(err)
	}
	mineN(t, n, 1)
	to := chain.NewWallet().Address()
	g := n.Chain().GenesisHash()
	tx0, tx1 := w.NewTx(g, to, 1, 1, 0), w.NewTx(g, to, 1, 1, 1)
	if err := n.Chain().SubmitTx(tx0); err != nil { // as from gossip: not logged
		t.Fatal(err)
	}
	if err := n.SubmitTx(ctx, tx1); err != nil { // acknowledged: logged
		t.Fatal(err)
	}
	n.Close()
	// What a SIGKILL leaves: the log holds tx1, not tx0 (a clean Close
	// compacted the pool, tx0 with it: write the log as the kill left it).
	path := filepath.Join(dir, chain.TxLogFile)
	l, _, err := chain.OpenTxLog(path, chain.TxLogOptions{Live: func() []*chain.Tx { return []*chain.Tx{tx1} }})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	for round := range 2 { // parked, and still parked after a restart
		n = testNode(t, dir)
		if n.Chain().Mempool().Has(tx1.ID()) || len(n.ParkedTxs()) != 1 || n.ParkedTxs()[0].ID() != tx1.ID() {
			t.Fatalf("round %d: tx1 pending %v, parked %d", round, n.Chain().Mempool().Has(tx1.ID()), len(n.ParkedTxs()))
		}
		if round == 0 {
			n.Close()
		}
	}
	if err := n.Chain().SubmitTx(tx0); err != nil { // the predecessor arrives
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * parkInterval)
	for !n.Chain().Mempool().Has(tx1.ID()) {
		if time.Now().After(deadline) {
			t.Fatal("parked tx1 not admitted after its predecessor arrived")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(n.ParkedTxs()) != 0 {
		t.Fatal("tx1 admitted but still parked")
	}
	b, err := n.MineBlock(ctx)
	if err != nil || len(b.Txs) != 3 {
		t.Fatalf("mined %d txs, err %v", len(b.Txs), err)
	}
}

// A reorg that sends a funding transaction back to the pool makes the
// transaction spending those funds invalid for now: the pool drops it, the
// node parks (and logs) it, and admits it once the funding is mined again.
func TestReorgParksUnfundedTx(t *testing.T) {
	ctx := context.Background()
	dirA, dirB := t.TempDir(), t.TempDir()
	a := testNode(t, dirA)
	// B mines to A's wallet, so A's funding transfer is valid on B's branch.
	key, err := os.ReadFile(filepath.Join(dirA, WalletFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dirB, WalletFile), key, 0o600); err != nil {
		t.Fatal(err)
	}
	b := testNode(t, dirB)
	mineN(t, a, 2)
	w := chain.NewWallet()
	fund, err := a.Send(ctx, w.Address(), 20, 1)
	if err != nil {
		t.Fatal(err)
	}
	mineN(t, a, 1)
	spend := w.NewTx(a.Chain().GenesisHash(), chain.NewWallet().Address(), 5, 1, 0)
	if err := a.SubmitTx(ctx, spend); err != nil {
		t.Fatal(err)
	}
	mineN(t, a, 1)
	mineN(t, b, 7) // heavier, without either transaction
	connectNodes(t, a, b)
	deadline := time.Now().Add(30 * time.Second)
	for a.Chain().Tip().Hash != b.Chain().Tip().Hash {
		if time.Now().After(deadline) {
			t.Fatal("no reorg to B's branch")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !a.Chain().Mempool().Has(fund.ID()) {
		t.Fatal("the funding transfer did not come back to the pool")
	}
	deadline = time.Now().Add(5 * time.Second)
	for len(a.ParkedTxs()) == 0 && !a.Chain().Mempool().Has(spend.ID()) {
		if time.Now().After(deadline) {
			t.Fatal("the unfunded spend was dropped, not parked")
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.Close() // A mines alone from here
	deadline = time.Now().Add(30 * time.Second)
	for !txOnMain(a, spend.ID()) {
		if time.Now().After(deadline) {
			t.Fatalf("the parked spend was never mined (parked %d, pending %v)", len(a.ParkedTxs()), a.Chain().Mempool().Has(spend.ID()))
		}
		a.MineBlock(ctx)
		time.Sleep(100 * time.Millisecond)
	}
}

// SubmitTx writes a transaction's record before its signature is checked
// (node/admit.go), so a log left by a crash may hold badly signed ones.
// The replay must not take them for acknowledged: not admitted, not
// parked, and not counted in the wallet's next nonce (a forged
// transaction in the node's own name would otherwise push the node's
// transfers behind a nonce that never comes).
func TestReplayRefusesBadlySignedRecords(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	n := testNode(t, dir)
	mineN(t, n, 2)
	me, g := n.Address(), n.Chain().GenesisHash()
	to := chain.NewWallet().Address()
	forge := func(nonce uint64) *chain.Tx {
		tx := chain.NewWallet().NewTx(g, to, 1, 1, nonce)
		tx.Sender = me // signed by another key
		return tx
	}
	next := forge(0)   // admissible but for its signature
	gapped := forge(1) // parkable: its nonce is ahead
	records := n.TxLogStats().Records
	if err := n.SubmitTx(ctx, next); !errors.Is(err, chain.ErrBadSignature) {
		t.Fatalf("forged tx: %v, want a bad signature", err)
	}
	// Its write was started before the check, and is not waited for.
	waitFor(t, 5*time.Second, "the forged tx's record written", func() bool { return n.TxLogStats().Records-records == 1 })
	n.Close()
	// What a SIGKILL leaves: both records (a clean Close compacted them
	// away).
	path := filepath.Join(dir, chain.TxLogFile)
	l, _, err := chain.OpenTxLog(path, chain.TxLogOptions{Live: func() []*chain.Tx { return []*chain.Tx{next, gapped} }})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	n = testNode(t, dir)
	if len(n.ParkedTxs()) != 0 || n.Chain().Mempool().Len() != 0 {
		t.Fatalf("replay kept forged txs: %d parked, %d pending", len(n.ParkedTxs()), n.Chain().Mempool().Len())
	}
	if n.acked.len() != 0 {
		t.Fatalf("replay took %d forged txs for acknowledged", n.acked.len())
	}
	if _, nonce := n.Balance(me); nonce != 0 {
		t.Fatalf("wallet's next nonce %d after replaying forged txs, want 0", nonce)
	}
	tx, err := n.Send(ctx, to, 1, 1)
	if err != nil || tx.Nonce != 0 || !n.Chain().Mempool().Has(tx.ID()) {
		t.Fatalf("send after replay: nonce %v, err %v", tx, err)
	}
}
