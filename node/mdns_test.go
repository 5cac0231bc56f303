package node

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// mdnsChildEnv marks the re-executed test binary running inside its own
// network namespace.
const mdnsChildEnv = "GOSSIPCHAIN_MDNS_NETNS_CHILD"

// netnsScript brings up loopback with multicast in a fresh network
// namespace (which has nothing but lo) and execs the test binary there.
const netnsScript = `ip link set lo up && ip link set lo multicast on && ip route add 224.0.0.0/4 dev lo && exec "$0" "$@"`

// TestMDNSDiscovery checks that two hosts with no bootstrap peers find and
// connect to each other over mDNS. mDNS multicasts on every interface, so
// the real test runs in a re-executed copy of this binary inside a fresh
// network namespace (unshare -n) whose only interface is loopback: no
// packet can leave the machine. Skipped when that is not possible.
func TestMDNSDiscovery(t *testing.T) {
	if os.Getenv(mdnsChildEnv) == "1" {
		mdnsDiscoveryInNetns(t)
		return
	}
	if testing.Short() {
		t.Skip("skipping mDNS netns test in -short mode")
	}
	if os.Geteuid() != 0 {
		t.Skip("mDNS test needs root to create a network namespace (unshare -n)")
	}
	for _, tool := range []string{"unshare", "ip", "sh"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("mDNS test needs %q to create a network namespace: %v", tool, err)
		}
	}
	if out, err := exec.Command("unshare", "-n", "sh", "-c", "ip link set lo up").CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace here (unshare -n): %v: %s", err, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := []string{"-n", "sh", "-c", netnsScript, os.Args[0],
		"-test.run=^TestMDNSDiscovery$", "-test.count=1", "-test.timeout=55s"}
	if testing.Verbose() {
		args = append(args, "-test.v")
	}
	cmd := exec.CommandContext(ctx, "unshare", args...)
	cmd.Env = append(os.Environ(), mdnsChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mDNS test in network namespace failed: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "PASS") {
		t.Fatalf("mDNS child did not report PASS:\n%s", out)
	}
	t.Logf("mDNS child (in its own network namespace):\n%s", out)
}

func mdnsDiscoveryInNetns(t *testing.T) {
	// Refuse to multicast anywhere but an isolated namespace.
	ifaces, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagLoopback == 0 {
			t.Fatalf("not in an isolated network namespace: interface %s present", ifc.Name)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	service := MDNSServiceName([]byte("test genesis hash"))

	// Listen on 0.0.0.0 as a real node does; here that is only loopback.
	listen := HostConfig{ListenAddrs: []string{"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"}}
	a := newTestHost(t, listen, true)
	b := newTestHost(t, listen, true)
	// A host of another network (another service name) must not be found.
	other := newTestHost(t, listen, true)

	var mu sync.Mutex
	seen := map[peer.ID]map[peer.ID]bool{}
	start := func(h host.Host, svc string, next func(peer.AddrInfo)) {
		t.Helper()
		c, err := StartMDNS(h, svc, func(pi peer.AddrInfo) {
			mu.Lock()
			if seen[h.ID()] == nil {
				seen[h.ID()] = map[peer.ID]bool{}
			}
			seen[h.ID()][pi.ID] = true
			mu.Unlock()
			next(pi)
		})
		if err != nil {
			t.Fatalf("StartMDNS: %v", err)
		}
		t.Cleanup(func() { _ = c.Close() })
	}
	start(a, service, ConnectDiscovered(ctx, a, 5*time.Second, testLogger(t)))
	start(b, service, ConnectDiscovered(ctx, b, 5*time.Second, testLogger(t)))
	start(other, MDNSServiceName([]byte("another network")), func(peer.AddrInfo) {})

	began := time.Now()
	waitFor(t, 30*time.Second, "A and B to connect via mDNS", func() bool {
		return connected(a, b) && connected(b, a)
	})
	t.Logf("A and B connected via mDNS after %v", time.Since(began).Round(time.Millisecond))

	mu.Lock()
	defer mu.Unlock()
	if seen[a.ID()][a.ID()] || seen[b.ID()][b.ID()] {
		t.Error("a host discovered itself")
	}
	if seen[a.ID()][other.ID()] || seen[b.ID()][other.ID()] || seen[other.ID()][a.ID()] || seen[other.ID()][b.ID()] {
		t.Error("hosts of different networks discovered each other")
	}
	if connected(a, other) || connected(b, other) {
		t.Error("a host of another network got connected")
	}
}
