package node

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

const nodeMDNSChildEnv = "GOSSIPCHAIN_NODE_MDNS_NETNS_CHILD"

// TestNodesFindEachOtherByMDNS: two nodes given no addresses at all find
// each other by mDNS and sync. mDNS multicasts, so the nodes run in a
// re-executed test binary inside a fresh network namespace (see
// TestMDNSDiscovery); no packet leaves the machine.
func TestNodesFindEachOtherByMDNS(t *testing.T) {
	if os.Getenv(nodeMDNSChildEnv) == "1" {
		nodesByMDNSInNetns(t)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a network namespace (unshare -n)")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare to create a network namespace")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "unshare", "-n", "sh", "-c", netnsScript, os.Args[0],
		"-test.run=^TestNodesFindEachOtherByMDNS$", "-test.count=1", "-test.timeout=80s", "-test.v")
	cmd.Env = append(os.Environ(), nodeMDNSChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "--- PASS") {
		t.Fatalf("nodes in a network namespace: %v\n%s", err, out)
	}
}

func nodesByMDNSInNetns(t *testing.T) {
	ifaces, _ := net.Interfaces()
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagLoopback == 0 {
			t.Fatalf("not in an isolated network namespace: %s present", ifc.Name)
		}
	}
	mdnsOnly := func(c *Config) {
		c.MDNS = true
		c.ListenAddrs = []string{"/ip4/0.0.0.0/tcp/0"}
	}
	a := testNode(t, "", mdnsOnly)
	mineN(t, a, 3)
	b := testNode(t, "", mdnsOnly)
	start := time.Now()
	waitFor(t, 30*time.Second, "the nodes to find each other by mDNS", func() bool {
		return len(a.Peers()) > 0 && len(b.Peers()) > 0
	})
	t.Logf("found each other after %v", time.Since(start).Round(time.Millisecond))
	waitFor(t, 30*time.Second, "B to sync A's chain", func() bool { return sameHead(a, b) })
}

// TestBootstrapPeerStartingLater: a node whose bootstrap peer is not up yet
// connects to it by itself once it starts, and syncs.
func TestBootstrapPeerStartingLater(t *testing.T) {
	dirB := t.TempDir()
	keyB, err := LoadOrCreateIdentity(filepath.Join(dirB, "node.key"))
	if err != nil {
		t.Fatal(err)
	}
	idB, _ := peer.IDFromPrivateKey(keyB)
	port := freeTCPPort(t)
	addrB := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", port, idB)

	a := testNode(t, "", func(c *Config) { c.Bootstrap = []string{addrB} })
	mineN(t, a, 2)
	b := testNode(t, dirB, func(c *Config) { c.ListenAddrs = []string{fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)} })
	if b.ID() != idB {
		t.Fatalf("B's identity changed")
	}
	waitFor(t, 30*time.Second, "A to connect to its late bootstrap peer", func() bool { return len(a.Peers()) == 1 })
	waitFor(t, 30*time.Second, "B to sync from A", func() bool { return sameHead(a, b) })
}
