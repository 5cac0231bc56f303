package e2e

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	"github.com/gossipchain/gossipchain/e2e/powercut"
	"github.com/gossipchain/gossipchain/node"
)

// TestPowerLoss cuts the power under a node, several times, while clients
// submit transfers and a miner mines: the node's data directory is on a
// powercut file system (e2e/powercut), which loses every write, and every
// name change, not yet synced when the node is SIGKILLed. After each cut
// the node restarts from what a disk would hold: its wallet and node keys
// must be the same, and every transaction it acknowledged (201) and every
// block /mine returned must still be there; at the end, mined out,
// each acknowledged transaction is in the chain exactly once and the store
// passes `gossipchain store check`. A SIGKILL alone (the chaos test) keeps
// the page cache, so it cannot tell a write from a durable one; this can.
func TestPowerLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	pc, mnt := mountPowercut(t) // its cleanup runs after the nodes'
	bin := gossipchainBinary(t)
	dataDir := filepath.Join(mnt, "data")
	args := []string{"--data-dir", dataDir, "--listen", "/ip4/127.0.0.1/tcp/0",
		"--mdns=false", "--dht=false", "--nat=false", "--stats-beacon=false",
		"--difficulty", "8", "--miner-workers", "1", "--log-level", "info"}

	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	t.Logf("seed %d", seed)

	var (
		acked  = map[string]bool{}   // tx ids answered 201
		blocks = map[uint64]string{} // index -> hash, as /mine returned it
		mu     sync.Mutex
	)
	var wallet, peerID string // the keys must outlive every cut
	const rounds = 5
	for r := 0; r <= rounds; r++ {
		p := startProc(t, bin, fmt.Sprintf("node-start-%d", r), "", args...)
		base := "http://" + p.http
		var st struct {
			Address string `json:"address"`
		}
		if err := getJSON(base+"/status", &st); err != nil {
			t.Fatal(err)
		}
		if r == 0 {
			wallet, peerID = st.Address, p.peerID
		} else if st.Address != wallet || p.peerID != peerID {
			t.Fatalf("after cut %d the node has wallet %.12s… and peer %s; before it had %.12s… and %s: a key file did not survive", r, st.Address, p.peerID, wallet, peerID)
		}
		checkDurable(t, base, acked, blocks, r == rounds)
		if r == rounds {
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM) // the store is locked while it runs
			_ = p.cmd.Wait()
			break
		}
		if r == 0 { // fund the wallet
			for range 3 {
				if _, err := mineOne(base); err != nil {
					t.Fatal(err)
				}
			}
		}

		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for ctx.Err() == nil {
					to := make([]byte, 32)
					for i := range to {
						to[i] = byte(rand.Uint32()) // the global source: safe here
					}
					id, err := sendTx(ctx, base, hex.EncodeToString(to))
					if err == nil && id != "" {
						mu.Lock()
						acked[id] = true
						mu.Unlock()
					}
				}
			})
		}
		wg.Go(func() {
			for ctx.Err() == nil {
				if b, err := mineOne(base); err == nil {
					mu.Lock()
					blocks[b.Index] = b.Hash
					mu.Unlock()
				}
			}
		})
		mu.Lock()
		before := len(acked)
		mu.Unlock()
		cutAt := time.Duration(300+rng.IntN(1200)) * time.Millisecond
		time.Sleep(cutAt) // how long the load runs; the checks below poll
		// The cut: SIGKILL, then the file system loses what was not synced.
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		_ = p.cmd.Wait()
		cancel()
		wg.Wait()
		if err := pc.Cut(); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		t.Logf("round %d: cut after %v; %d transactions acknowledged in it, %d blocks mined in all; lost so far: %+v",
			r, cutAt, len(acked)-before, len(blocks), pc.Stats())
		mu.Unlock()
	}
	if len(acked) == 0 || len(blocks) == 0 {
		t.Fatalf("nothing to check: %d transactions acknowledged, %d blocks mined", len(acked), len(blocks))
	}
	// Whether a cut finds a write unsynced is chance (about two cuts in
	// three do); that the node's I/O went through the model is not.
	if st := pc.Stats(); st.Writes == 0 || st.Syncs == 0 {
		t.Errorf("the mount saw %d writes and %d syncs: the node did not write through it", st.Writes, st.Syncs)
	}
	out, err := runCmd(time.Minute, nil, bin, "store", "check", "--data-dir", dataDir)
	if err != nil {
		t.Fatalf("store check after the cuts: %v\n%s", err, out)
	}
	t.Logf("store check: %s", firstLine(out))
}

// mountPowercut mounts a powercut file system over a temporary directory,
// unmounted at the end of the test; without FUSE or root the test is
// skipped, or fails under CI=true.
func mountPowercut(t *testing.T) (*powercut.FS, string) {
	t.Helper()
	if err := powercut.Available(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	back, mnt := t.TempDir(), t.TempDir()
	pc, err := powercut.Mount(back, mnt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pc.Close(); err != nil {
			t.Error(err)
		}
	})
	return pc, mnt
}

// checkDurable checks that the node at base holds every block /mine
// returned, at its index, and every acknowledged transaction: in the chain
// or the pool; with mineOut, it mines until the pool is empty, then wants
// each in the chain exactly once.
func checkDurable(t *testing.T, base string, acked map[string]bool, blocks map[uint64]string, mineOut bool) {
	t.Helper()
	if mineOut {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			var pending struct {
				Count int `json:"count"`
			}
			if err := getJSON(base+"/transactions/pending", &pending); err != nil {
				t.Fatal(err)
			}
			var st struct {
				Parked int `json:"parked"`
			}
			if err := getJSON(base+"/status", &st); err != nil {
				t.Fatal(err)
			}
			if pending.Count == 0 && st.Parked == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("still %d pending, %d parked after 2 minutes of mining", pending.Count, st.Parked)
			}
			if _, err := mineOne(base); err != nil {
				t.Fatal(err)
			}
		}
	}
	var ch chainJSONReply
	if err := getJSON(base+"/chain", &ch); err != nil {
		t.Fatal(err)
	}
	var pending struct {
		Transactions []struct {
			ID string `json:"id"`
		} `json:"transactions"`
	}
	if err := getJSON(base+"/transactions/pending", &pending); err != nil {
		t.Fatal(err)
	}
	atIndex := map[uint64]string{} // the chain's indexes start at 1, the genesis
	for _, b := range ch.Chain {
		atIndex[b.Index] = b.Hash
	}
	for index, hash := range blocks {
		if atIndex[index] != hash {
			t.Errorf("block %d (%.12s…), returned by /mine, is not in the chain after the cut (length %d)", index, hash, len(ch.Chain))
		}
	}
	count := map[string]int{}
	for _, b := range ch.Chain {
		for _, tx := range b.Transactions {
			count[tx.ID]++
		}
	}
	inPool := map[string]bool{}
	for _, tx := range pending.Transactions {
		inPool[tx.ID] = true
	}
	lost, twice := 0, 0
	for id := range acked {
		switch {
		case count[id] > 1:
			twice++
		case count[id] == 1, !mineOut && inPool[id]:
		default:
			lost++
			if lost <= 5 {
				t.Errorf("acknowledged transaction %s is gone (in pool: %v)", id, inPool[id])
			}
		}
	}
	if lost+twice > 0 {
		t.Fatalf("%d acknowledged transactions lost, %d mined twice, of %d", lost, twice, len(acked))
	}
	t.Logf("after the cut: chain of %d blocks, %d in the pool; all %d acknowledged transactions and %d returned blocks kept",
		len(ch.Chain), len(pending.Transactions), len(acked), len(blocks))
}

type chainJSONReply struct {
	Chain []struct {
		Index        uint64 `json:"index"`
		Hash         string `json:"hash"`
		Transactions []struct {
			ID string `json:"id"`
		} `json:"transactions"`
	} `json:"chain"`
}

var powerClient = &http.Client{Timeout: 30 * time.Second}

func getJSON(url string, v any) error {
	resp, err := powerClient.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return json.Unmarshal(body, v)
}

func mineOne(base string) (blockJSON, error) {
	var b blockJSON
	return b, getJSON(base+"/mine", &b)
}

// sendTx asks the node's wallet to send 1 coin to to; the id on a 201,
// "" on a refusal.
func sendTx(ctx context.Context, base, to string) (string, error) {
	body, _ := json.Marshal(map[string]any{"recipient": to, "amount": 1})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/transactions/new", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := powerClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var reply struct {
		ID string `json:"id"`
	}
	if resp.StatusCode != http.StatusCreated {
		io.Copy(io.Discard, resp.Body)
		return "", nil
	}
	if err := json.NewDecoder(resp.Body).Decode(&reply); err != nil {
		return "", err
	}
	return reply.ID, nil
}

// TestDataFilesSurvivePowerCut: a node's wallet key (the coins it
// mines), node key and new store, once created, come back after a power
// cut on their own, whatever else does or does not sync the directory
// afterwards (in a node, the log's compaction at start happens to).
func TestDataFilesSurvivePowerCut(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	pc, mnt := mountPowercut(t)
	dir := filepath.Join(mnt, "data")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	w, created, err := chain.LoadOrCreateWallet(filepath.Join(dir, node.WalletFile))
	if err != nil || !created {
		t.Fatalf("wallet: created %v, %v", created, err)
	}
	if err := pc.Cut(); err != nil {
		t.Fatal(err)
	}
	again, err := chain.LoadWallet(filepath.Join(dir, node.WalletFile))
	if err != nil {
		t.Fatalf("the wallet key is gone after a power cut: %v", err)
	}
	if again.Address() != w.Address() {
		t.Fatalf("wallet after the cut %s, before %s", again.Address(), w.Address())
	}

	key, err := node.LoadOrCreateIdentity(filepath.Join(dir, node.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := pc.Cut(); err != nil {
		t.Fatal(err)
	}
	keyAgain, err := node.LoadOrCreateIdentity(filepath.Join(dir, node.KeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if !key.Equals(keyAgain) {
		t.Fatal("the node key changed across a power cut: a new peer id")
	}

	// bbolt maps its file: a page fault on the mount in the process that
	// serves it can deadlock with the Go runtime (a faulting thread cannot
	// stop for the collector, and the server then cannot run), so the
	// store is made by a child process.
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperCreateStore$")
	cmd.Env = append(os.Environ(), "GOSSIPCHAIN_HELPER_STORE="+filepath.Join(dir, node.ChainFile))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("creating the store: %v\n%s", err, out)
	}
	if err := pc.Cut(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, node.ChainFile)); err != nil {
		t.Fatalf("the new store is gone after a power cut: %v", err)
	}
}

// TestHelperCreateStore is TestDataFilesSurvivePowerCut's child process:
// it creates a store at GOSSIPCHAIN_HELPER_STORE, and does nothing without
// it.
func TestHelperCreateStore(t *testing.T) {
	path := os.Getenv("GOSSIPCHAIN_HELPER_STORE")
	if path == "" {
		t.Skip("a helper process of TestDataFilesSurvivePowerCut")
	}
	store, err := chain.OpenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
}
