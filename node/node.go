// Package node is a gossipchain peer: the libp2p host and its identity,
// discovery (mDNS, bootstrap, manual connect), the gossip topics and their
// validators, the sync protocol, and the Node that ties chain, miner and
// network together. It knows nothing of HTTP or terminals.
package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	"github.com/gossipchain/gossipchain/pow"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Config is everything a Node needs. Zero values take defaults.
type Config struct {
	DataDir     string       // store, node key, wallet key
	Params      chain.Params // the network's rules
	ListenAddrs []string     // multiaddrs; default TCP and QUIC on 4001
	Bootstrap   []string     // /ip4|/dns4/.../p2p/<id>
	MDNS        bool
	// IdentitySeed, if set, derives the libp2p key from this string
	// instead of the key file, so a demo cluster's bootstrap node has a
	// peer ID known in advance. Anyone who knows the seed can impersonate
	// the node: for demos and tests only.
	IdentitySeed string
	MinerWorkers int // 0 = all cores
	ConnLow      int
	ConnHigh     int
	Logger       *slog.Logger
	// Observe, if set, receives timings in seconds: "gossip_block",
	// "gossip_tx" (validation), "sync" (one sync exchange), "mine_block".
	Observe func(name string, seconds float64)

	SyncBatchBlocks   int           // blocks per batch frame; default 128
	SyncCommitBlocks  int           // blocks per store commit while syncing (frames are joined); default 2048
	SyncRequestMax    int           // blocks per request; default 2000
	SyncStreamTimeout time.Duration // deadline of one sync exchange; default 60 s
	// SyncStallTimeout is how long a block download request may deliver
	// nothing (or hold up the commits) before its blocks are moved to
	// other peers (node/download.go); default 10 s.
	SyncStallTimeout time.Duration
	// SyncSerial makes SyncFrom fetch blocks from its one peer by locator
	// requests, one at a time, as before the parallel download (for
	// comparison in benchmarks).
	SyncSerial bool
	// SyncPreverify makes the download check each frame's signatures as
	// it arrives, into the verified-signature cache, so that the commit's
	// serial part overlaps them. Off: in paired runs on the shared machine
	// it did not measurably help (docs/BENCHMARKS.md).
	SyncPreverify bool
	// HeaderSessionMax caps the headers one headers-first session takes
	// from a peer before its branch must beat our head; default 50,000
	// (about six days of blocks at 10 s: the longest partition that heals).
	HeaderSessionMax int
	// StatusInterval is how often peers are asked for their status, so a
	// block that gossip missed (no mesh yet, a partition healed) is synced
	// anyway; default 5 s.
	StatusInterval time.Duration
	// BanDuration is how long a peer whose penalties reach BanThreshold
	// is refused; default DefaultBanDuration (24 h).
	BanDuration time.Duration
	// NoAutoSync turns off the syncs a node starts by itself (on connect,
	// on status polls, on an orphan block): the bench command calls
	// SyncFrom or SyncWholeChain itself to time them.
	NoAutoSync bool
	// NoStatsBeacon stops this node publishing its stats beacon
	// (stats.go); it still hears the others'. StatsInterval is how often
	// the beacon goes out; default DefaultStatsInterval.
	NoStatsBeacon bool
	StatsInterval time.Duration
	// FullBlockRelay publishes our blocks whole on the full-block topic
	// instead of in compact form on the compact one (compact.go). Both
	// topics are always validated and relayed.
	FullBlockRelay bool

	// Host, if set, is used instead of building one from ListenAddrs,
	// IdentitySeed and the NAT fields (the bench's mocknet hosts); the
	// node closes it in Close.
	Host host.Host
	// DHT turns on discovery through the Kademlia DHT (dht.go).
	DHT bool
	// NAT turns on AutoNAT, the relay client and hole punching;
	// RelayService offers circuit relay to others when public;
	// NATPortMap asks the router for a port mapping (UPnP, NAT-PMP).
	NAT, RelayService, NATPortMap bool
	// UserAgent is the identify agent version; default "gossipchain".
	UserAgent string
	// PubSubOptions are extra gossipsub options applied last (the
	// bench's tracer and mesh degree settings).
	PubSubOptions []pubsub.Option
	// Now is the clock of the chain's future-timestamp rule and of mined
	// blocks' timestamps; time.Now if nil. Tests skew it.
	Now func() time.Time
	// TxLogCompactAt: the pending-transaction log is compacted past this
	// size (and twice its size after the last compaction); default 4 MiB.
	TxLogCompactAt int64
	// TxLogPrealloc: the log grows by this much zeroed space at a time
	// (chain.TxLogOptions.Prealloc); zero: its default.
	TxLogPrealloc int64
	// MempoolMaxTxs caps the mempool (chain.Options); default 10,000.
	MempoolMaxTxs int
	// MaxAcknowledged bounds the transactions acknowledged and not yet
	// mined (acked.go); past it SubmitTx refuses. Default
	// DefaultMaxAcknowledged.
	MaxAcknowledged int
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.UserAgent == "" {
		c.UserAgent = "gossipchain"
	}
	if c.SyncBatchBlocks <= 0 {
		c.SyncBatchBlocks = 128
	}
	if c.SyncCommitBlocks <= 0 {
		c.SyncCommitBlocks = 2048
	}
	if c.SyncRequestMax <= 0 {
		c.SyncRequestMax = 2000
	}
	if c.SyncStallTimeout <= 0 {
		c.SyncStallTimeout = 10 * time.Second
	}
	if c.HeaderSessionMax <= 0 {
		c.HeaderSessionMax = 50_000
	}
	if c.StatusInterval <= 0 {
		c.StatusInterval = 5 * time.Second
	}
	if c.BanDuration <= 0 {
		c.BanDuration = DefaultBanDuration
	}
	if c.SyncStreamTimeout <= 0 {
		c.SyncStreamTimeout = 60 * time.Second
	}
}

// Files in the data directory.
const (
	WalletFile = "wallet.key" // the wallet's ed25519 seed, 0600
	ChainFile  = "chain.db"   // the bbolt store
	KeyFile    = "node.key"   // the libp2p identity, 0600
	// BanFile (banlist.go) holds the bans, 0600.
)

// Node is one gossipchain peer.
type Node struct {
	cfg    Config
	log    *slog.Logger
	chain  *chain.Chain
	wallet *chain.Wallet
	host   host.Host
	ps     *pubsub.PubSub
	scores *ScoreBook
	bans   *banList
	mesh   *meshTracer
	miner  *pow.Miner
	events *eventBus
	boot   *Bootstrapper
	mdns   io.Closer
	dht    *dhtDiscovery
	reach  reachability

	txTopic, blockTopic *pubsub.Topic
	txSub, blockSub     *pubsub.Subscription
	txq                 *txQueue // our transactions waiting to be announced
	statsTopic          *pubsub.Topic
	stats               *statsTable // beacons heard (stats.go)
	arrivals            *arrivalLog // when and from whom blocks came (arrivals.go)
	lastSync            lastSync    // the phases of the last parallel sync (syncphases.go)
	found               sync.Map    // peer.ID -> how it was found (peerinfo.go)
	compact             *compactRelay
	txlog               *chain.TxLog
	parked              parkedTxs    // logged txs not admissible yet (durable.go)
	acked               *ackedTxs    // acknowledged, not yet mined (acked.go)
	admission           *admitter    // local submissions admitted in groups (admit.go)
	spends              *nonceClaims // one local submission of a (sender, nonce) at a time (nonceclaim.go)

	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	spawnMu sync.Mutex
	closing bool // set by Close: no new goroutines after it

	closeOnce sync.Once
	closeErr  error

	headMu   sync.Mutex
	headCh   chan struct{} // closed and replaced whenever the head changes
	sendMu   sync.Mutex    // one local Send at a time, so nonces follow each other
	mineMu   sync.Mutex    // guards mining and stopMine
	mining   bool
	stopMine context.CancelFunc
	mineDone chan struct{}

	peersMu sync.Mutex
	peers   map[peer.ID]*peerState

	headerSlots chan struct{} // one token per running headers-first session

	metrics Metrics
}

// peerState is what we know of a connected peer.
type peerState struct {
	connected bool // PeerConnected reported, PeerLost not yet
	status    *PeerStatus
	syncing   bool
	chain     bool // its status named our genesis: a chain peer (chainpeers.go)
	foreign   bool // its status named another genesis
}

// New opens the store and wallet in cfg.DataDir, starts the host, joins the
// gossip topics, serves the sync protocol and starts discovery. Close stops
// it all.
func New(ctx context.Context, cfg Config) (*Node, error) {
	cfg.setDefaults()
	if cfg.DataDir == "" {
		return nil, errors.New("node: no data directory")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	n := &Node{
		cfg:         cfg,
		log:         cfg.Logger,
		miner:       pow.NewMiner(cfg.MinerWorkers),
		events:      newEventBus(),
		headCh:      make(chan struct{}),
		peers:       make(map[peer.ID]*peerState),
		headerSlots: make(chan struct{}, maxHeaderSessions),
		scores:      &ScoreBook{},
		mesh:        newMeshTracer(),
		txq:         newTxQueue(),
		stats:       newStatsTable(),
		arrivals:    newArrivalLog(),
		bans:        newBanList(filepath.Join(cfg.DataDir, BanFile), cfg.BanDuration, cfg.Logger),
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	ok := false
	defer func() {
		if !ok {
			n.Close()
		}
	}()

	var err error
	n.wallet, _, err = chain.LoadOrCreateWallet(filepath.Join(cfg.DataDir, WalletFile))
	if err != nil {
		return nil, err
	}
	n.chain, err = chain.Open(filepath.Join(cfg.DataDir, ChainFile), chain.Options{Params: cfg.Params, Logger: n.log, Now: cfg.Now, MempoolMaxTxs: cfg.MempoolMaxTxs})
	if err != nil {
		return nil, err
	}
	n.acked = newAckedTxs(cfg.MaxAcknowledged)
	n.admission = newAdmitter(n.chain.SubmitTxs)
	n.spends = newNonceClaims()
	n.chain.Mempool().OnDrop(n.onPoolDrop)
	// Replays the pending-transaction log (durable.go); peers hear of the
	// transactions again at the next rebroadcast.
	if err := n.openTxLog(); err != nil {
		return nil, err
	}
	if err := n.bans.load(); err != nil {
		// The bans are a defence, not data: a damaged file costs them,
		// not the start.
		n.log.Warn("ignoring the ban list", "err", err)
	}
	if n.host = cfg.Host; n.host == nil {
		key, err := nodeIdentity(cfg)
		if err != nil {
			return nil, err
		}
		n.host, err = NewHost(HostConfig{ListenAddrs: cfg.ListenAddrs, Identity: key, ConnLow: cfg.ConnLow, ConnHigh: cfg.ConnHigh, Gater: n.bans,
			NAT: cfg.NAT, RelayService: cfg.RelayService, NATPortMap: cfg.NATPortMap, UserAgent: cfg.UserAgent})
		if err != nil {
			return nil, err
		}
	}
	n.reach.watch(n.ctx, n.host, &n.wg)
	n.host.SetStreamHandler(SyncProtocol, n.handleSyncStream)
	n.host.Network().Notify(&network.NotifyBundle{
		ConnectedF:    func(_ network.Network, c network.Conn) { n.onConnected(c.RemotePeer()) },
		DisconnectedF: func(_ network.Network, c network.Conn) { n.onDisconnected(c.RemotePeer()) },
	})
	if err := n.startGossip(); err != nil {
		return nil, err
	}
	if err := n.startDiscovery(ctx); err != nil {
		return nil, err
	}
	n.spawn(n.pollStatus)
	n.spawn(n.announceLoop)
	n.spawn(n.retryParked)
	ok = true
	tip := n.chain.Tip()
	n.log.Info("node started", "peer_id", n.host.ID(), "index", tip.Index, "head", tip.Hash, "address", n.wallet.Address())
	return n, nil
}

func (n *Node) startDiscovery(ctx context.Context) error {
	genesis := n.chain.GenesisHash()
	if n.cfg.MDNS {
		connect := ConnectDiscovered(n.ctx, n.host, 0, n.log)
		closer, err := StartMDNS(n.host, MDNSServiceName(genesis[:]), func(pi peer.AddrInfo) {
			n.notePeerFound(pi.ID, FoundMDNS)
			connect(pi)
		})
		if err != nil {
			return fmt.Errorf("mdns: %w", err)
		}
		n.mdns = closer
	}
	var infos []peer.AddrInfo
	for _, s := range n.cfg.Bootstrap {
		info, err := ParsePeerAddr(s)
		if err != nil {
			return fmt.Errorf("bootstrap %q: %w", s, err)
		}
		if info.ID == n.host.ID() {
			continue // a node listed as its own bootstrap (a shared compose file)
		}
		n.notePeerFound(info.ID, FoundBootstrap)
		infos = append(infos, info)
	}
	// Always there: /nodes/register adds the nodes it cannot reach yet.
	n.boot = NewBootstrapper(n.host, infos, n.log)
	if err := n.boot.Start(n.ctx); err != nil {
		return err
	}
	if n.cfg.DHT {
		return n.startDHT(infos)
	}
	return nil
}

// AddBootstrap makes addr (a full multiaddr, …/p2p/<id>) a bootstrap peer:
// dialled now and redialled with backoff whenever it is not connected.
// source says who asked, for BootstrapStatus.
func (n *Node) AddBootstrap(addr, source string) error {
	info, err := ParsePeerAddr(addr)
	if err != nil {
		return err
	}
	if info.ID == n.host.ID() {
		return fmt.Errorf("%s: that is this node", addr)
	}
	if n.boot == nil {
		return errors.New("node not started")
	}
	return n.boot.Add(info, source)
}

// BootstrapStatus reports the state of each bootstrap peer (--bootstrap,
// and nodes registered through the API before they were reachable).
func (n *Node) BootstrapStatus() []BootstrapStatus {
	if n.boot == nil {
		return nil
	}
	return n.boot.Status()
}

// Close stops mining, discovery, gossip and the host, then closes the store.
// Every block AddBlock acknowledged is already on disk.
func (n *Node) Close() error {
	n.closeOnce.Do(func() { n.closeErr = n.close() })
	return n.closeErr
}

func (n *Node) close() error {
	n.StopMining()
	if n.boot != nil {
		n.boot.Close()
	}
	if n.mdns != nil {
		n.mdns.Close()
	}
	if n.dht != nil {
		n.dht.close()
	}
	n.spawnMu.Lock()
	n.closing = true
	n.spawnMu.Unlock()
	n.cancel()
	if n.txSub != nil {
		n.txSub.Cancel()
	}
	if n.blockSub != nil {
		n.blockSub.Cancel()
	}
	var errs []error
	if n.host != nil {
		errs = append(errs, n.host.Close())
	}
	n.wg.Wait()
	if n.chain != nil {
		errs = append(errs, n.closeTxLog(), n.chain.Close())
	}
	n.events.close()
	return errors.Join(errs...)
}

// Done is closed when the node closes; background work on its behalf (the
// API's retries of registered nodes) ends with it.
func (n *Node) Done() <-chan struct{} { return n.ctx.Done() }

// Chain is the node's ledger, for read-only queries.
func (n *Node) Chain() *chain.Chain { return n.chain }

// Host is the libp2p host.
func (n *Node) Host() host.Host { return n.host }

// ID is the node's peer ID.
func (n *Node) ID() peer.ID { return n.host.ID() }

// Addrs are the node's full multiaddrs (…/p2p/<id>).
func (n *Node) Addrs() []string { return FullAddrs(n.host) }

// Address is the node's wallet address (where its mining rewards go).
func (n *Node) Address() chain.Address { return n.wallet.Address() }

// Subscribe returns a stream of events and a function to stop it.
func (n *Node) Subscribe() (<-chan Event, func()) { return n.events.subscribe(256) }

// Status summarises the node.
type Status struct {
	PeerID   string
	Addrs    []string
	Address  chain.Address
	Genesis  chain.Hash
	Head     chain.Hash
	Index    uint64
	Work     *big.Int
	Bits     uint32
	Peers    int
	Mempool  int
	Mining   bool
	HashRate float64
	// Parked counts stored transactions waiting to become admissible
	// (durable.go); ParkedAcknowledged those of them this node
	// acknowledged, its promises.
	Parked, ParkedAcknowledged int
	// Reachability is AutoNAT's verdict: public, private or unknown.
	Reachability string
	RelayAddrs   []string // our /p2p-circuit addresses
	// OtherPeers counts connected libp2p peers that are not chain peers
	// (DHT nodes, relays, nodes of other networks).
	OtherPeers int
}

// Status reports the node's state now.
func (n *Node) Status() Status {
	tip := n.chain.Tip()
	parked, parkedAcked := n.parked.count(n.acked.has)
	return Status{
		PeerID:   n.host.ID().String(),
		Addrs:    n.Addrs(),
		Address:  n.Address(),
		Genesis:  tip.Genesis,
		Head:     tip.Hash,
		Index:    tip.Index,
		Work:     tip.Work,
		Bits:     tip.Bits,
		Peers:    len(n.chainPeers()),
		Mempool:  n.chain.Mempool().Len(),
		Mining:   n.Mining(),
		HashRate: n.miner.HashRate(),

		Parked:             parked,
		ParkedAcknowledged: parkedAcked,

		Reachability: n.Reachability(),
		RelayAddrs:   n.RelayAddrs(),
		OtherPeers:   n.otherPeers(),
	}
}

// PeerInfo describes a connected peer.
type PeerInfo struct {
	ID    string   `json:"id"`
	Addrs []string `json:"addrs"`
	Index uint64   `json:"index"` // 0 when its status is not known yet
	Head  string   `json:"head,omitempty"`
	Score float64  `json:"score"`
	// Connection is "direct", or "relayed" through a circuit relay.
	Connection string `json:"connection"`
}

// Peers lists connected chain peers (see chainpeers.go).
func (n *Node) Peers() []PeerInfo {
	var out []PeerInfo
	for _, p := range n.chainPeers() {
		info := PeerInfo{ID: p.String(), Score: n.scores.Score(p), Connection: n.connKindOf(p)}
		for _, c := range n.host.Network().ConnsToPeer(p) {
			// Two connections to one address (both sides dialled at
			// once) list it once.
			if a := c.RemoteMultiaddr().String(); !slices.Contains(info.Addrs, a) {
				info.Addrs = append(info.Addrs, a)
			}
		}
		n.peersMu.Lock()
		if st := n.peers[p]; st != nil && st.status != nil {
			info.Index, info.Head = st.status.Index, st.status.Head.String()
		}
		n.peersMu.Unlock()
		out = append(out, info)
	}
	return out
}

// Connect dials a peer by its full multiaddr (…/p2p/<id>).
func (n *Node) Connect(ctx context.Context, addr string) (peer.ID, error) {
	info, err := ParsePeerAddr(addr)
	if err != nil {
		return "", err
	}
	if info.ID == n.host.ID() {
		return "", fmt.Errorf("connect %s: that is this node", addr)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	clearDialBackoff(n.host, info.ID)
	if _, ok := n.found.Load(info.ID); !ok {
		n.notePeerFound(info.ID, FoundRegister)
	}
	if err := n.host.Connect(ctx, info); err != nil {
		return "", fmt.Errorf("connect %s: %w", addr, err)
	}
	n.awaitPeerKind(ctx, info.ID) // so Peers() lists it when it is ours
	return info.ID, nil
}

// SubmitTx validates a signed transaction into the mempool, makes it
// durable (durable.go) and gossips it: a nil return means it is on disk.
func (n *Node) SubmitTx(ctx context.Context, tx *chain.Tx) error {
	if err := n.acked.room(); err != nil {
		return err
	}
	// Claimed before the promise: a submitter waiting for another spend
	// of its nonce must not hold the log's batch.
	release, err := n.spends.claim(ctx, tx)
	if err != nil {
		return err
	}
	defer release()
	promise := n.expectLog()
	defer promise.Cancel()
	// The checks that come before the signature first: what they refuse
	// is not written to the log.
	if err := n.chain.PrecheckTx(tx); err != nil {
		return err
	}
	// Acknowledged-to-be before it is in the pool, so an eviction racing
	// with the fsync still parks it.
	fresh := n.acked.addNew(tx)
	// Its record is synced while its signature is checked: the 201 waits
	// for the longer of the two, not for both in turn. A transaction
	// refused now leaves a record: the replay refuses it again, or keeps
	// a later spend of its nonce instead (durable.go, nonceclaim.go).
	write := promise.Start(tx)
	err = n.admission.admit(tx)
	release() // the pool's verdict is in: the next spend of the nonce may go
	if err != nil {
		if fresh {
			n.acked.remove(tx.ID())
		}
		return err
	}
	return n.acceptTx(tx, fresh, write)
}

// acceptTx makes an admitted local transaction durable, then announces it.
// fresh: tx was not acknowledged before, so a failure takes it back.
func (n *Node) acceptTx(tx *chain.Tx, fresh bool, write chain.TxLogPending) error {
	if err := n.logTx(tx, write); err != nil {
		if fresh {
			n.acked.remove(tx.ID())
		}
		return err
	}
	n.metrics.TxsAccepted.Add(1)
	n.events.publish(Event{Kind: EventTxReceived, Tx: tx, Source: "local"})
	n.txq.push(tx)
	return nil
}

// Send signs a transfer from the node's wallet with the next nonce and
// submits it. The next nonce counts the wallet's parked transactions
// (acked.go); a transfer behind them waits parked with them.
func (n *Node) Send(ctx context.Context, to chain.Address, amount, fee uint64) (*chain.Tx, error) {
	if err := n.acked.room(); err != nil {
		return nil, err
	}
	promise := n.expectLog()
	defer promise.Cancel()
	// The nonce needs one admission at a time; the fsync does not, so
	// concurrent sends share it (group commit).
	n.sendMu.Lock()
	me := n.wallet.Address()
	poolNonce := n.chain.Mempool().PendingNonce(me, n.chain.Account(me))
	nonce := max(poolNonce, n.acked.nextNonce(me))
	tx := n.wallet.NewTx(n.chain.GenesisHash(), to, amount, fee, nonce)
	// Claimed until its record is started, as SubmitTx claims a spend
	// (nonceclaim.go): a transaction signed with this key elsewhere and
	// submitted now then writes its record in the pool's order too.
	release, err := n.spends.claim(ctx, tx)
	if err != nil {
		n.sendMu.Unlock()
		return nil, err
	}
	defer release()
	n.acked.add(tx) // a new transaction: its id is new
	err = n.chain.SubmitTx(tx)
	behindParked := err != nil && nonce > poolNonce && n.parkable(tx, err)
	if behindParked {
		// The pool cannot check its funds (it waits for the parked
		// ones): the head's balance must cover it and every transfer
		// acknowledged before it. Without this a wallet short of funds
		// went on acknowledging transfers behind a parked one that
		// could never be mined (the chaos test: 89 lost).
		acct := n.chain.Account(me)
		if owed := n.acked.owed(me, acct.Nonce); owed > acct.Balance {
			behindParked = false
			err = fmt.Errorf("balance %d does not cover this transfer and the wallet's earlier ones not yet mined (%d in all): %w", acct.Balance, owed, chain.ErrInsufficientBalance)
		}
	}
	if err != nil && !behindParked {
		n.acked.remove(tx.ID())
	}
	n.sendMu.Unlock()
	switch {
	case behindParked:
		write := promise.Start(tx)
		release()
		if err := n.logTx(tx, write); err != nil {
			n.acked.remove(tx.ID())
			return nil, err
		}
		n.parked.add(tx) // announced once the pool takes it (offerParked)
		n.metrics.TxsAccepted.Add(1)
		return tx, nil
	case err != nil:
		return nil, err
	}
	write := promise.Start(tx)
	release()
	if err := n.acceptTx(tx, true, write); err != nil {
		return nil, err
	}
	return tx, nil
}

// Balance returns an address's account at the head, and the nonce its next
// transaction needs counting pending ones, parked ones included.
func (n *Node) Balance(a chain.Address) (acct chain.Account, nextNonce uint64) {
	acct = n.chain.Account(a)
	return acct, max(n.chain.Mempool().PendingNonce(a, acct), n.acked.nextNonce(a))
}

// spawn runs f on a goroutine that Close waits for; after Close has begun
// it does nothing.
func (n *Node) spawn(f func()) {
	n.spawnMu.Lock()
	defer n.spawnMu.Unlock()
	if n.closing {
		return
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

// headChanged returns a channel closed at the next head change.
func (n *Node) headChanged() <-chan struct{} {
	n.headMu.Lock()
	defer n.headMu.Unlock()
	return n.headCh
}

func (n *Node) signalHead() {
	n.headMu.Lock()
	close(n.headCh)
	n.headCh = make(chan struct{})
	n.headMu.Unlock()
}

// added reports what an AddBlock/AddBlocks changed.
func (n *Node) added(res *chain.AddResult, source string) {
	if res == nil || len(res.Connected) == 0 {
		return
	}
	if res.Reorg {
		n.metrics.Reorgs.Add(1)
		n.events.publish(Event{Kind: EventReorg, Source: source, Disconnected: len(res.Disconnected), Connected: len(res.Connected), Index: res.Connected[len(res.Connected)-1].Index})
		n.log.Info("reorg", "disconnected", len(res.Disconnected), "connected", len(res.Connected), "source", source)
		// The losing branch's transactions are back in our mempool; peers
		// that never saw them (the other side of a partition) must hear
		// of them again.
		var back []*chain.Tx
		for _, b := range res.Disconnected {
			for _, tx := range b.Txs[1:] {
				if n.chain.Mempool().Has(tx.ID()) {
					back = append(back, tx)
				}
			}
		}
		if len(back) > 0 {
			// Not from inside a validator: Publish validates too.
			n.spawn(func() { n.announceTxs(back) })
		}
		n.parkDisconnected(res.Disconnected)
	}
	for _, b := range res.Connected {
		n.events.publish(Event{Kind: EventBlockAdded, Block: b, Source: source, Index: b.Index})
	}
	n.signalHead()
}
