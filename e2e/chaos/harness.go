package chaos

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	"github.com/gossipchain/gossipchain/e2e/powercut"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

func peerIDOf(k crypto.PrivKey) (string, error) {
	id, err := peer.IDFromPrivateKey(k)
	return id.String(), err
}

// Config of one chaos run. Zero values take defaults.
type Config struct {
	Bin        string        // the gossipchain binary
	Nodes      int           // default 5
	Miners     int           // nodes 1..Miners mine; default 2
	Clients    int           // client wallets; default 6
	Duration   time.Duration // of the fault phase; default 60 s
	Drain      time.Duration // at most, to converge and drain afterwards; default 5 min
	Difficulty int           // initial leading zero bits; default 20
	DiskMB     int           // each node's data disk; default 64
	// NoPowerCuts leaves out the power-cut fault (which needs FUSE).
	NoPowerCuts bool
	Seed        uint64 // default: time
	Prefix      string // names of namespaces etc.; default gcchaos<pid>
	OutDir      string // logs, report.json, timeline.png (kept)
	WorkDir     string // disk images and mounts (removed)
	Logf        func(format string, args ...any)
	// Register, if set, is given the cleanup (kill the nodes, unmount,
	// delete the namespaces) so an interrupted test can run it; it
	// returns a function that unregisters it.
	Register func(cleanup func()) (unregister func())
}

func (c *Config) setDefaults() {
	if c.Nodes == 0 {
		c.Nodes = 5
	}
	if c.Miners == 0 {
		c.Miners = 2
	}
	if c.Clients == 0 {
		c.Clients = 6
	}
	if c.Duration == 0 {
		c.Duration = 60 * time.Second
	}
	if c.Drain == 0 {
		c.Drain = 5 * time.Minute
	}
	if c.Difficulty == 0 {
		c.Difficulty = 20
	}
	if c.DiskMB == 0 {
		c.DiskMB = 64
	}
	if c.Seed == 0 {
		c.Seed = uint64(time.Now().UnixNano())
	}
	if c.Prefix == "" {
		c.Prefix = fmt.Sprintf("gcchaos%d", os.Getpid())
	}
	if c.Logf == nil {
		c.Logf = func(string, ...any) {}
	}
}

// Harness is one run.
type Harness struct {
	cfg   Config
	net   *network
	procs []*proc
	start time.Time
	rng   *rand.Rand
	rngMu sync.Mutex

	mu      sync.Mutex
	acks    []Ack
	faults  []Fault
	samples []Sample
	refused map[string]int // non-201 answers by kind

	closed     bool     // cleaned up: start no node
	powerCuts  bool     // data directories on powercut file systems
	faultKinds []string // what the nemesis draws from
}

// Ack is one acknowledgement a client got (201 with an id).
type Ack struct {
	ID     string  `json:"id"`
	Sender string  `json:"sender"`
	Nonce  uint64  `json:"nonce"`
	Node   int     `json:"node"`
	T      float64 `json:"t"`
	Kind   string  `json:"kind"` // "signed", "conflict" (a second spend of an acked nonce), "node-wallet"
	// Waits: the 201 said the transfer is stored but waits behind the
	// node wallet's parked ones.
	Waits bool `json:"waits,omitempty"`
}

// Fault is one injected fault.
type Fault struct {
	Kind   string  `json:"kind"`
	Nodes  []int   `json:"nodes"`
	Detail string  `json:"detail,omitempty"`
	From   float64 `json:"from"`
	To     float64 `json:"to"`
}

// Sample is one node's state at one time.
type Sample struct {
	T       float64 `json:"t"`
	Node    int     `json:"node"`
	Up      bool    `json:"up"`
	Index   uint64  `json:"index"`
	Head    string  `json:"head"`
	Mempool int     `json:"mempool"`
}

func (h *Harness) now() float64 { return time.Since(h.start).Seconds() }

func (h *Harness) randIntN(n int) int {
	h.rngMu.Lock()
	defer h.rngMu.Unlock()
	return h.rng.IntN(n)
}

func (h *Harness) randDur(lo, hi time.Duration) time.Duration {
	return lo + time.Duration(h.randIntN(int(hi-lo)/int(time.Millisecond)+1))*time.Millisecond
}

// Run sets up, runs and checks; the report is written to OutDir even when
// the check fails (the error says what failed).
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.setDefaults()
	h := &Harness{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)), refused: map[string]int{}}
	h.faultKinds = faultKinds
	if !cfg.NoPowerCuts {
		if err := powercut.Available(); err != nil {
			cfg.Logf("chaos: no power cuts: %v", err)
		} else {
			h.powerCuts = true
			h.faultKinds = append(h.faultKinds[:len(h.faultKinds):len(h.faultKinds)], "power-cut")
		}
	}
	h.net = &network{prefix: cfg.Prefix, n: cfg.Nodes}
	var once sync.Once
	cleanup := func() { once.Do(h.cleanup) }
	defer cleanup()
	if cfg.Register != nil {
		defer cfg.Register(cleanup)()
	}
	if err := os.MkdirAll(cfg.OutDir, 0o755); err != nil {
		return nil, err
	}
	if err := h.setup(); err != nil {
		return nil, fmt.Errorf("setup: %w", err)
	}
	h.start = time.Now()
	cfg.Logf("chaos: %d nodes up (seed %d); funding %d client wallets", cfg.Nodes, cfg.Seed, cfg.Clients)
	sctx, stopSampler := context.WithCancel(ctx)
	var swg sync.WaitGroup
	swg.Go(func() { h.sample(sctx) })
	defer func() { stopSampler(); swg.Wait() }()

	wallets, err := h.fund(ctx)
	if err != nil {
		return nil, fmt.Errorf("funding the clients: %w", err)
	}
	faultStart := h.now()
	cfg.Logf("chaos: clients funded at %.0f s; %v of faults and clients", faultStart, cfg.Duration)
	cctx, stopClients := context.WithCancel(ctx)
	var cwg sync.WaitGroup
	for k, w := range wallets {
		cwg.Go(func() { h.client(cctx, k, w) })
	}
	cwg.Go(func() { h.nodeWalletClient(cctx, wallets) })
	nctx, stopNemesis := context.WithTimeout(ctx, cfg.Duration)
	h.nemesis(nctx)
	stopNemesis()
	stopClients()
	cwg.Wait()
	faultEnd := h.now()

	cfg.Logf("chaos: healing everything at %.0f s", faultEnd)
	h.healAll()
	conv, convErr := h.converge(ctx)
	if convErr == nil {
		h.quiesce(ctx)
	}
	stopSampler()
	swg.Wait()
	rep := h.check(ctx, faultStart, faultEnd, conv, convErr)
	if err := rep.write(cfg.OutDir, h); err != nil {
		return rep, err
	}
	if len(rep.Failures) > 0 {
		return rep, fmt.Errorf("chaos check failed: %s", strings.Join(rep.Failures, "; "))
	}
	return rep, nil
}

func (h *Harness) setup() error {
	if err := h.net.setup(); err != nil {
		return err
	}
	for i := 1; i <= h.cfg.Nodes; i++ {
		dir := filepath.Join(h.cfg.WorkDir, fmt.Sprintf("node%d", i))
		d, err := newDisk(filepath.Join(h.cfg.WorkDir, fmt.Sprintf("node%d.img", i)), dir, h.cfg.DiskMB)
		if err != nil {
			return err
		}
		id, err := peerIDFromSeed(fmt.Sprintf("%s-node-%d", h.cfg.Prefix, i))
		if err != nil {
			return err
		}
		p := &proc{i: i, h: h, dir: dir, disk: d, miner: i <= h.cfg.Miners, peerID: id}
		p.client = &http.Client{Transport: &http.Transport{DialContext: dialer(h.net.nsPath(i)), MaxIdleConnsPerHost: 8, IdleConnTimeout: 30 * time.Second}}
		h.procs = append(h.procs, p) // from here the cleanup unmounts its disks
		if h.powerCuts {
			// The node's files live on its disk, seen through a file
			// system that a power cut can take unsynced writes from.
			back, mnt := p.powerBacking(), p.powerMount()
			if err := errors.Join(os.MkdirAll(back, 0o700), os.MkdirAll(mnt, 0o700)); err != nil {
				return err
			}
			if p.power, err = powercut.Mount(back, mnt); err != nil {
				return err
			}
		}
	}
	for _, p := range h.procs {
		if err := p.start(0); err != nil {
			return err
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for _, p := range h.procs {
		for {
			if st, err := p.status(context.Background()); err == nil && st.PeerID == p.peerID {
				break
			}
			if time.Now().After(deadline) {
				p.stop(syscall.SIGQUIT) // a goroutine dump in its log
				return fmt.Errorf("node %d did not answer within 60 s (log %s)", p.i, p.logPath())
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	return nil
}

func (h *Harness) cleanup() {
	h.mu.Lock()
	h.closed = true // no node starts after this (an interrupt runs it beside the run)
	h.mu.Unlock()
	for _, p := range h.procs {
		p.stop(syscall.SIGKILL)
	}
	for _, p := range h.procs {
		p.client.CloseIdleConnections()
		if p.power != nil {
			if err := p.power.Close(); err != nil {
				h.cfg.Logf("chaos: %v", err)
			}
		}
		p.disk.unmount()
	}
	h.net.teardown()
}

// sample records every node's head and mempool once a second.
func (h *Harness) sample(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		var wg sync.WaitGroup
		for _, p := range h.procs {
			wg.Go(func() {
				s := Sample{T: h.now(), Node: p.i}
				c, cancel := context.WithTimeout(ctx, 2*time.Second)
				defer cancel()
				if st, err := p.status(c); err == nil {
					s.Up, s.Index, s.Head, s.Mempool = true, st.Index, st.Head, st.Mempool
				}
				h.mu.Lock()
				h.samples = append(h.samples, s)
				h.mu.Unlock()
			})
		}
		wg.Wait()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// newTxBody is a signed transfer as POST /transactions/new takes it.
func newTxBody(tx *chain.Tx) map[string]any {
	return map[string]any{
		"sender": tx.Sender.String(), "recipient": tx.Recipient.String(),
		"amount": tx.Amount, "fee": tx.Fee, "nonce": tx.Nonce,
		"signature": hex.EncodeToString(tx.Signature[:]),
	}
}

// fund sends coins from the miners' wallets to the client wallets, and
// waits until every client has them on every node.
func (h *Harness) fund(ctx context.Context) ([]*chain.Wallet, error) {
	var ws []*chain.Wallet
	for range h.cfg.Clients {
		ws = append(ws, chain.NewWallet())
	}
	const each = 400
	deadline := time.Now().Add(4 * time.Minute)
	for k, w := range ws {
		m := h.procs[k%h.cfg.Miners]
		for {
			code, body, err := m.post(ctx, "/transactions/new", map[string]any{"recipient": w.Address().String(), "amount": each, "fee": 1})
			if err == nil && code == 201 {
				var r struct{ ID string }
				json.Unmarshal(body, &r)
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("node %d's wallet could not fund client %d: %d %s %v", m.i, k, code, body, err)
			}
			time.Sleep(time.Second) // mining the reward first
		}
	}
	for k, w := range ws {
		for _, p := range h.procs {
			for {
				var bal struct {
					Balance uint64 `json:"balance"`
				}
				if err := p.get(ctx, "/balance/"+w.Address().String(), &bal); err == nil && bal.Balance >= each {
					break
				}
				if time.Now().After(deadline) {
					return nil, fmt.Errorf("client %d not funded on node %d", k, p.i)
				}
				time.Sleep(500 * time.Millisecond)
			}
		}
	}
	return ws, nil
}

func (h *Harness) ack(a Ack) {
	a.T = h.now()
	h.mu.Lock()
	h.acks = append(h.acks, a)
	h.mu.Unlock()
}

func (h *Harness) refuse(kind string) {
	h.mu.Lock()
	h.refused[kind]++
	h.mu.Unlock()
}

func classify(code int, body []byte, err error) string {
	switch {
	case err != nil:
		return "unreachable"
	case code == 409:
		return "409 known"
	case code == 503 && strings.Contains(string(body), "disk"):
		return "503 disk"
	case code == 400 && strings.Contains(string(body), "nonce"):
		return "400 nonce"
	case code == 400 && strings.Contains(string(body), "insufficient balance"):
		return "400 balance"
	default:
		return fmt.Sprintf("%d", code)
	}
}

// client submits signed transfers from w to random nodes, one nonce after
// another; a refused or unanswered one is sent again (the same bytes) to
// another node. Now and then it signs a second spend of its last
// acknowledged nonce and sends it to another node: in a partition both
// may be acknowledged, and the checker must find that exactly one won.
func (h *Harness) client(ctx context.Context, k int, w *chain.Wallet) {
	genesis := h.genesis(ctx)
	to := chain.NewWallet().Address()
	var nonce uint64
	var lastAcked *chain.Tx
	for ctx.Err() == nil {
		tx := w.NewTx(genesis, to, 1, uint64(h.randIntN(3)), nonce)
		for attempt := 0; ctx.Err() == nil; attempt++ {
			p := h.procs[h.randIntN(len(h.procs))]
			code, body, err := p.post(ctx, "/transactions/new", newTxBody(tx))
			if err == nil && code == 201 {
				h.ack(Ack{ID: tx.ID().String(), Sender: tx.Sender.String(), Nonce: tx.Nonce, Node: p.i, Kind: "signed"})
				lastAcked = tx
				break
			}
			kind := classify(code, body, err)
			h.refuse(kind)
			if kind == "409 known" {
				break // acknowledged before (an answer lost on the way)
			}
			if kind == "400 nonce" && strings.Contains(string(body), fmt.Sprintf("nonce %d, want %d", nonce, nonce+1)) {
				break // the previous answer was lost but the tx got in and was mined
			}
			sleep(ctx, time.Duration(100+h.randIntN(400))*time.Millisecond)
		}
		nonce++
		if lastAcked != nil && h.randIntN(25) == 0 {
			alt := w.NewTx(genesis, to, 2, lastAcked.Fee+1, lastAcked.Nonce)
			p := h.procs[h.randIntN(len(h.procs))]
			if code, _, err := p.post(ctx, "/transactions/new", newTxBody(alt)); err == nil && code == 201 {
				h.ack(Ack{ID: alt.ID().String(), Sender: alt.Sender.String(), Nonce: alt.Nonce, Node: p.i, Kind: "conflict"})
			}
		}
		sleep(ctx, time.Duration(50+h.randIntN(250))*time.Millisecond)
	}
}

// nodeWalletClient sends unsigned transfers (the tutorial's POST, signed
// by the node's wallet) to the miners, which have the coins: they pay the
// client wallets, so those never run dry.
func (h *Harness) nodeWalletClient(ctx context.Context, clients []*chain.Wallet) {
	for ctx.Err() == nil {
		p := h.procs[h.randIntN(h.cfg.Miners)]
		to := clients[h.randIntN(len(clients))].Address().String()
		code, body, err := p.post(ctx, "/transactions/new", map[string]any{"recipient": to, "amount": 12, "fee": 1})
		if err == nil && code == 201 {
			var r struct {
				Message string `json:"message"`
				ID      string `json:"id"`
				Sender  string `json:"sender"`
				Nonce   uint64 `json:"nonce"`
			}
			if json.Unmarshal(body, &r) == nil {
				h.ack(Ack{ID: r.ID, Sender: r.Sender, Nonce: r.Nonce, Node: p.i, Kind: "node-wallet", Waits: strings.Contains(r.Message, "not pending yet")})
			}
		} else {
			h.refuse(classify(code, body, err))
		}
		sleep(ctx, time.Duration(200+h.randIntN(600))*time.Millisecond)
	}
}

func (h *Harness) genesis(ctx context.Context) chain.Hash {
	for ctx.Err() == nil {
		for _, p := range h.procs {
			var st struct {
				Genesis string `json:"genesis"`
			}
			if err := p.get(ctx, "/status", &st); err == nil {
				if g, err := chain.ParseHash(st.Genesis); err == nil {
					return g
				}
			}
		}
		sleep(ctx, time.Second)
	}
	return chain.Hash{}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// ---- the nemesis -----------------------------------------------------

type activeFault struct {
	idx  int // in h.faults
	undo func()
	end  time.Time
}

func (h *Harness) addFault(f Fault) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	f.From, f.To = h.now(), -1
	h.faults = append(h.faults, f)
	h.cfg.Logf("chaos: %6.1f s  %s %v %s", f.From, f.Kind, f.Nodes, f.Detail)
	return len(h.faults) - 1
}

func (h *Harness) endFault(idx int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.faults[idx].To = h.now()
}

// faultKinds are the nemesis's faults; "power-cut" joins them where FUSE
// can be mounted: a SIGKILL after which the node's file system loses every
// write not yet synced (e2e/powercut).
var faultKinds = []string{"kill", "partition", "clock-skew", "delay-loss", "disk-full"}

// nemesis injects faults at random times until ctx ends, then undoes
// whatever is still active.
func (h *Harness) nemesis(ctx context.Context) {
	active := map[string]*activeFault{}
	busy := map[int]bool{} // nodes under a kill or skew (both restart them)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	next := time.Now().Add(h.randDur(2*time.Second, 5*time.Second))
	for {
		select {
		case <-ctx.Done():
			for kind, a := range active {
				a.undo()
				delete(active, kind)
			}
			return
		case <-tick.C:
		}
		for kind, a := range active {
			if time.Now().After(a.end) {
				a.undo()
				delete(active, kind)
			}
		}
		if time.Now().Before(next) {
			continue
		}
		next = time.Now().Add(h.randDur(2*time.Second, 6*time.Second))
		kind := h.faultKinds[h.randIntN(len(h.faultKinds))]
		if active[kind] != nil {
			continue
		}
		i := 1 + h.randIntN(h.cfg.Nodes)
		p := h.procs[i-1]
		switch kind {
		case "kill":
			if busy[i] {
				continue
			}
			busy[i] = true
			idx := h.addFault(Fault{Kind: kind, Nodes: []int{i}, Detail: "SIGKILL, restart later"})
			p.stop(syscall.SIGKILL)
			active[kind] = &activeFault{idx: idx, end: time.Now().Add(h.randDur(1*time.Second, 6*time.Second)), undo: func() {
				if err := p.start(p.offset); err != nil {
					h.cfg.Logf("chaos: restart node %d: %v", i, err)
				}
				busy[i] = false
				h.endFault(idx)
			}}
		case "power-cut":
			if busy[i] {
				continue
			}
			busy[i] = true
			p.stop(syscall.SIGKILL)
			before := p.power.Stats().Bytes
			detail := "SIGKILL, the cut failed, restart later"
			if err := p.power.Cut(); err != nil {
				h.cfg.Logf("chaos: power cut on node %d: %v", i, err)
			} else {
				detail = fmt.Sprintf("SIGKILL, %d bytes of unsynced writes lost, restart later", p.power.Stats().Bytes-before)
			}
			idx := h.addFault(Fault{Kind: kind, Nodes: []int{i}, Detail: detail})
			active[kind] = &activeFault{idx: idx, end: time.Now().Add(h.randDur(1*time.Second, 6*time.Second)), undo: func() {
				if err := p.start(p.offset); err != nil {
					h.cfg.Logf("chaos: restart node %d: %v", i, err)
				}
				busy[i] = false
				h.endFault(idx)
			}}
		case "partition":
			h.rngMu.Lock()
			perm := h.rng.Perm(h.cfg.Nodes)
			h.rngMu.Unlock()
			size := 1 + h.randIntN(h.cfg.Nodes/2)
			var side []int
			for _, x := range perm[:size] {
				side = append(side, x+1)
			}
			sort.Ints(side)
			idx := h.addFault(Fault{Kind: kind, Nodes: side, Detail: "these against the rest"})
			if err := h.net.partition(side); err != nil {
				h.cfg.Logf("chaos: partition: %v", err)
			}
			active[kind] = &activeFault{idx: idx, end: time.Now().Add(h.randDur(4*time.Second, 15*time.Second)), undo: func() {
				h.net.heal()
				h.endFault(idx)
			}}
		case "clock-skew":
			if busy[i] {
				continue
			}
			busy[i] = true
			offsets := []time.Duration{30 * time.Second, -30 * time.Second, 45 * time.Second, 90 * time.Second, 3 * time.Minute, -2 * time.Minute}
			off := offsets[h.randIntN(len(offsets))]
			idx := h.addFault(Fault{Kind: kind, Nodes: []int{i}, Detail: fmt.Sprintf("restart (SIGTERM) with clock %+v", off)})
			if err := p.restart(syscall.SIGTERM, off); err != nil {
				h.cfg.Logf("chaos: skew node %d: %v", i, err)
			}
			active[kind] = &activeFault{idx: idx, end: time.Now().Add(h.randDur(6*time.Second, 15*time.Second)), undo: func() {
				if err := p.restart(syscall.SIGKILL, 0); err != nil {
					h.cfg.Logf("chaos: unskew node %d: %v", i, err)
				}
				busy[i] = false
				h.endFault(idx)
			}}
		case "delay-loss":
			delay := 20 + h.randIntN(300)
			loss := h.randIntN(25)
			detail, err := h.net.degrade(i, delay, loss)
			if err != nil {
				h.cfg.Logf("chaos: delay/loss on node %d: %v", i, err)
				h.net.clearDegrade(i)
				continue
			}
			idx := h.addFault(Fault{Kind: kind, Nodes: []int{i}, Detail: detail})
			active[kind] = &activeFault{idx: idx, end: time.Now().Add(h.randDur(5*time.Second, 15*time.Second)), undo: func() {
				h.net.clearDegrade(i)
				h.endFault(idx)
			}}
		case "disk-full":
			idx := h.addFault(Fault{Kind: kind, Nodes: []int{i}, Detail: "data disk filled"})
			if err := p.disk.fill(); err != nil {
				h.cfg.Logf("chaos: fill disk of node %d: %v", i, err)
			}
			active[kind] = &activeFault{idx: idx, end: time.Now().Add(h.randDur(4*time.Second, 12*time.Second)), undo: func() {
				p.disk.free()
				h.endFault(idx)
			}}
		}
	}
}

// healAll undoes every fault: network, disks, clocks, dead nodes.
func (h *Harness) healAll() {
	h.net.heal()
	for _, p := range h.procs {
		h.net.clearDegrade(p.i)
		p.disk.free()
		if !p.running() {
			p.start(0)
		} else if p.offset != 0 {
			p.restart(syscall.SIGTERM, 0)
		}
	}
}

// converge waits until every node has one head, every mempool is empty
// and no node holds an acknowledged transaction parked (one waiting for
// funds the miners' next blocks bring), and returns how long it took.
func (h *Harness) converge(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(h.cfg.Drain)
	last := ""
	for {
		heads := map[string]bool{}
		pending := 0
		var desc []string
		ok := true
		for _, p := range h.procs {
			st, err := p.status(ctx)
			if err != nil {
				ok = false
				desc = append(desc, fmt.Sprintf("node %d: %v", p.i, err))
				continue
			}
			heads[st.Head] = true
			pending += st.Mempool + st.ParkedAcked
			desc = append(desc, fmt.Sprintf("node %d: %d %.8s mempool %d parked %d peers %d", p.i, st.Index, st.Head, st.Mempool, st.ParkedAcked, st.Peers))
		}
		last = strings.Join(desc, "; ")
		if ok && len(heads) == 1 && pending == 0 {
			h.cfg.Logf("chaos: converged and drained after %v: %s", time.Since(start).Round(time.Second), last)
			return time.Since(start), nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return time.Since(start), fmt.Errorf("not converged after %v: %s%s", h.cfg.Drain, last, h.bansSummary(ctx))
		}
		time.Sleep(time.Second)
	}
}

// quiesce stops the miners and waits, at most 30 s, until every node has
// one head again, so that the checker's reads see one chain: with mining
// on, a block mined between two nodes' status reads made two heads (seen
// once in six 60-second runs).
func (h *Harness) quiesce(ctx context.Context) {
	for _, p := range h.procs {
		if p.miner {
			if code, body, err := p.post(ctx, "/mining/stop", nil); err != nil || code != 200 {
				h.cfg.Logf("chaos: node %d: stop mining: %d %s %v", p.i, code, body, err)
			}
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		heads := map[string]bool{}
		for _, p := range h.procs {
			if st, err := p.status(ctx); err == nil {
				heads[st.Head] = true
			} else {
				heads[fmt.Sprintf("node %d: %v", p.i, err)] = true
			}
		}
		if len(heads) == 1 {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// bansSummary lists the bans nodes hold against each other, for the
// failure message: a node that none of the others will talk to is the
// first thing to rule out when heads differ after healing.
func (h *Harness) bansSummary(ctx context.Context) string {
	out := h.bans(ctx)
	if len(out) == 0 {
		return "; no bans"
	}
	return "; " + strings.Join(out, "; ")
}

// bans lists, as "node i bans node j (reason)", the bans each running
// node holds.
func (h *Harness) bans(ctx context.Context) []string {
	byID := map[string]int{}
	for _, p := range h.procs {
		byID[p.peerID] = p.i
	}
	var out []string
	for _, p := range h.procs {
		var resp struct {
			Banned []struct {
				Peer   string `json:"peer"`
				Reason string `json:"reason"`
			} `json:"banned"`
		}
		if err := p.get(ctx, "/peers/banned", &resp); err != nil {
			continue
		}
		for _, b := range resp.Banned {
			who := b.Peer
			if i, ok := byID[b.Peer]; ok {
				who = fmt.Sprintf("node %d", i)
			}
			out = append(out, fmt.Sprintf("node %d bans %s (%.120s)", p.i, who, b.Reason))
		}
	}
	return out
}
