package node

import (
	"github.com/gossipchain/gossipchain/discovery"
	"github.com/libp2p/go-libp2p/core/peer"
)

// dhtDiscovery is the node's DHT and the Finder that advertises and
// searches the network's rendezvous key in it.
type dhtDiscovery struct {
	dht    *discovery.DHT
	finder *discovery.Finder
}

// wantPeers is the chain peer count below which the DHT search keeps its
// fastest pace.
const wantPeers = 8

// startDHT joins the DHT, with the bootstrap peers as its entry points
// (any libp2p DHT node will do, of any network or none), and connects to
// the nodes found under the network's rendezvous key.
func (n *Node) startDHT(bootstrap []peer.AddrInfo) error {
	d, err := discovery.NewDHT(n.ctx, n.host, discovery.DHTConfig{Bootstrap: bootstrap})
	if err != nil {
		return err
	}
	genesis := n.chain.GenesisHash()
	ns := discovery.Namespace(genesis[:])
	connect := ConnectDiscovered(n.ctx, n.host, 0, n.log)
	f := discovery.Find(n.ctx, d.Discovery(), n.host.ID(), ns, connect,
		func() bool { return len(n.chainPeers()) < wantPeers }, n.log)
	n.dht = &dhtDiscovery{dht: d, finder: f}
	n.log.Info("DHT discovery started", "rendezvous", ns)
	return nil
}

func (d *dhtDiscovery) close() {
	d.finder.Close()
	d.dht.Close()
}
