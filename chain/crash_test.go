package chain

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
	"strconv"
	"strings"
	"testing"
	"time"
)

// crashDirEnv tells the test binary, re-executed by TestCrashRecovery, to
// run TestCrashChild on the chain in that directory.
const crashDirEnv = "GOSSIPCHAIN_CRASH_CHILD_DIR"

// TestCrashRecovery kills a process that is writing the ledger (SIGKILL, at
// whatever point of a write it has reached) and checks what it reopens to:
// the store opens, the main chain links from the genesis, every block the
// child had been told was added is on it, and the head state is the state
// replayed from the genesis. Three rounds in the same directory.
func TestCrashRecovery(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "chain.db")
	acked := make(map[uint64]Hash)
	for round := range 3 {
		want := 25 + rand.IntN(15)
		acks := runCrashChild(t, dir, want)
		for _, a := range acks {
			if h, ok := acked[a.index]; ok && h != a.hash {
				t.Fatalf("round %d: index %d acknowledged as %s, earlier as %s", round, a.index, a.hash, h)
			}
			acked[a.index] = a.hash
		}

		c, err := Open(path, Options{Params: TestParams()})
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		tip := c.Tip()
		for idx, h := range acked {
			b, err := c.BlockByIndex(idx)
			if err != nil || b.Hash() != h || !c.IsMain(h) {
				c.Close()
				t.Fatalf("round %d: acknowledged block %d %s not on the reopened main chain (head %d): %v", round, idx, h, tip.Index, err)
			}
		}
		state := checkMainChain(t, c)
		for seed := byte(1); seed <= 4; seed++ {
			a := wallet(seed).Address()
			if _, ok := state[a]; !ok && c.Account(a) != (Account{}) {
				t.Fatalf("round %d: account %s stored but not in the replay", round, a)
			}
		}
		t.Logf("round %d: %d acknowledgements read, reopened at height %d", round, len(acks), tip.Index)
		if round == 2 {
			clock := &testClock{t: tip.Time.Add(time.Second)}
			c.now = clock.now
			mine(t, c, clock, wallet(1).Address())
		}
		c.Close()
	}
}

type crashAck struct {
	index uint64
	hash  Hash
}

// runCrashChild starts the child on dir, reads its acknowledgements until it
// has n, and kills it right away.
func runCrashChild(t *testing.T, dir string, n int) []crashAck {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acks []crashAck
	var other []string
	sc := bufio.NewScanner(out)
	for len(acks) < n && sc.Scan() {
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != "ACK" {
			other = append(other, line)
			continue
		}
		idx, err1 := strconv.ParseUint(f[1], 10, 64)
		h, err2 := ParseHash(f[2])
		if err := errors.Join(err1, err2); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("bad acknowledgement %q: %v", line, err)
		}
		acks = append(acks, crashAck{idx, h})
	}
	// SIGKILL: no deferred functions, no closing of the store.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatalf("kill: %v", err)
	}
	err = cmd.Wait()
	if len(acks) < n {
		t.Fatalf("child stopped after %d of %d acknowledgements (%v)\nstdout: %s\nstderr: %s",
			len(acks), n, err, strings.Join(other, "\n"), stderr.String())
	}
	return acks
}

// TestCrashChild is the child of TestCrashRecovery: it adds blocks to the
// chain in $GOSSIPCHAIN_CRASH_CHILD_DIR forever (mined blocks with
// transfers, batches through AddBlocks, side blocks) and prints
// "ACK index hash" for each block once the call that added it returned.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("run by TestCrashRecovery")
	}
	clock := &testClock{t: TestParams().GenesisTime.Add(time.Hour)}
	c, err := Open(filepath.Join(dir, "chain.db"), Options{Params: TestParams(), Now: clock.now})
	if err != nil {
		t.Fatalf("child open: %v", err)
	}
	if next := c.Tip().Time.Add(time.Second); next.After(clock.t) {
		clock.t = next
	}
	ws := []*Wallet{wallet(1), wallet(2), wallet(3), wallet(4)}
	ack := func(blocks []*Block) {
		for _, b := range blocks {
			// One write per line: os.Stdout is not buffered.
			fmt.Printf("ACK %d %s\n", b.Index, b.Hash())
		}
	}
	for i := 0; ; i++ {
		clock.t = clock.t.Add(time.Second)
		miner := ws[i%len(ws)]
		tip, err := c.BlockByHash(c.Tip().Hash)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case i%5 == 4: // a batch of three blocks, one commit
			var batch []*Block
			parent := tip
			for k := range 3 {
				b := childOf(t, c, parent, ws[(i+k)%len(ws)].Address(), clock.t.UnixMilli()+int64(k))
				batch = append(batch, b)
				parent = b
			}
			n, res, err := c.AddBlocks(batch)
			if err != nil || n != len(batch) {
				t.Fatalf("child AddBlocks: %d, %v", n, err)
			}
			ack(res.Connected)
		case i%7 == 6 && tip.Index > 1: // a side block as heavy as the head
			parent, err := c.BlockByHash(tip.PrevHash)
			if err != nil {
				t.Fatal(err)
			}
			side := childOf(t, c, parent, miner.Address(), clock.t.UnixMilli())
			if res, err := c.AddBlock(side); err != nil || res.Status != StatusSide {
				t.Fatalf("child side block: %+v, %v", res, err)
			}
		default: // a mined block with a transfer
			from, to := ws[(i+1)%len(ws)], ws[(i+2)%len(ws)]
			acct := c.Account(from.Address())
			if acct.Balance > 10 {
				nonce := c.Mempool().PendingNonce(from.Address(), acct)
				err := c.SubmitTx(from.NewTx(testNet, to.Address(), 1+uint64(i%5), uint64(i%3), nonce))
				if err != nil && !errors.Is(err, ErrInsufficientBalance) {
					t.Fatalf("child submit: %v", err)
				}
			}
			b := c.NewBlockTemplate(miner.Address())
			solve(t, b)
			res, err := c.AddBlock(b)
			if err != nil {
				t.Fatalf("child AddBlock: %v", err)
			}
			ack(res.Connected)
		}
	}
}
