package bench

import (
	"context"
	"os"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
)

func TestTimeScaleGossipParams(t *testing.T) {
	k := timeScale(4)
	p := k.gossip(pubsub.DefaultGossipSubParams())
	d := pubsub.DefaultGossipSubParams()
	if p.HeartbeatInterval != 4*d.HeartbeatInterval || p.PruneBackoff != 4*d.PruneBackoff || p.IWantFollowupTime != 4*d.IWantFollowupTime {
		t.Fatalf("heartbeat %v, prune backoff %v, iwant followup %v: not 4× the defaults", p.HeartbeatInterval, p.PruneBackoff, p.IWantFollowupTime)
	}
	if p.D != d.D || p.HistoryGossip != d.HistoryGossip {
		t.Fatal("counts are not durations and must not change")
	}
	if got := k.model(400 * time.Millisecond); got != 100*time.Millisecond {
		t.Fatalf("model(400ms) at k=4 = %v", got)
	}
}

// TestNetworkTimeScale runs a small network with its clocks slowed four
// times: every block must reach every node, and no block can reach all
// of them faster, in model time, than one link's least latency (a hop
// takes k·LatencyMin of wall time, divided by k when reported), so a
// latency left unscaled or a time left undivided shows.
func TestNetworkTimeScale(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a network of nodes")
	}
	o := DefaultOptions()
	o.CacheDir = t.TempDir()
	if testing.Verbose() {
		o.Log = os.Stderr
	}
	no := NetworkOptions{Nodes: 8, Degree: 3, Blocks: 3, Interval: 300 * time.Millisecond, TxRate: -1,
		LatencyMin: 30 * time.Millisecond, LatencyMax: 40 * time.Millisecond, Partition: 300 * time.Millisecond, TimeScale: 4}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r, err := Network(ctx, o, no)
	if err != nil {
		t.Fatal(err)
	}
	if r.TimeScale != 4 || r.CoresPerNode <= 0 {
		t.Fatalf("time scale %v, cores per node %v", r.TimeScale, r.CoresPerNode)
	}
	if r.Block100.P50 == 0 {
		t.Fatalf("no block reached every node: %+v", r)
	}
	if r.Block100.P50 < 30 {
		t.Fatalf("block p50 to every node %.1f ms in model time, under one link's 30 ms", r.Block100.P50)
	}
	if !r.Converged {
		t.Fatalf("the partition did not heal: %+v", r)
	}
}
