package bench

import (
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
)

// A slowed clock for the network bench (--time-scale k). Every duration
// the modelled network has — link latency, the block interval, the
// partition, gossipsub's heartbeat and the timers around it, the status
// poll — is multiplied by k, bandwidth and the tx rate are divided by k,
// and every time measured is divided by k before it is reported. N nodes
// sharing c cores then behave as if each had k·c/N of a core: a 1,000-node
// network on two cores cannot run in real time (each block costs every
// node some milliseconds of CPU), but at k = 20 it runs as if each node
// had 4 % of a core, which is what the figures then model. Timeouts
// inside the node that the bench cannot reach (stream deadlines, the
// parked-transaction retry) are not scaled; with k ≥ 1 they only get
// longer in model time, so they fire no earlier than in a real network.
type timeScale float64

// of returns d stretched by the scale.
func (k timeScale) of(d time.Duration) time.Duration {
	return time.Duration(float64(d) * float64(k))
}

// model converts a measured wall-clock duration into model time.
func (k timeScale) model(d time.Duration) time.Duration {
	return time.Duration(float64(d) / float64(k))
}

// models converts every measured duration in ds into model time.
func (k timeScale) models(ds []time.Duration) []time.Duration {
	for i, d := range ds {
		ds[i] = k.model(d)
	}
	return ds
}

// gossip stretches gossipsub's own clock: the heartbeat (mesh upkeep and
// IHAVE gossip), its first delay, and the backoffs and windows counted in
// time rather than heartbeats.
func (k timeScale) gossip(p pubsub.GossipSubParams) pubsub.GossipSubParams {
	p.HeartbeatInitialDelay = k.of(p.HeartbeatInitialDelay)
	p.HeartbeatInterval = k.of(p.HeartbeatInterval)
	p.FanoutTTL = k.of(p.FanoutTTL)
	p.PruneBackoff = k.of(p.PruneBackoff)
	p.UnsubscribeBackoff = k.of(p.UnsubscribeBackoff)
	p.GraftFloodThreshold = k.of(p.GraftFloodThreshold)
	p.IWantFollowupTime = k.of(p.IWantFollowupTime)
	return p
}
