package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Gossip defaults used for zero PubSubConfig fields.
const (
	// DefaultMaxMessageSize is the largest gossip message accepted or sent.
	// Larger messages are dropped silently by go-libp2p-pubsub, so it must
	// exceed the largest valid block plus ~1 KiB of envelope.
	DefaultMaxMessageSize = 2 << 20
	// DefaultValidateQueueSize is the length of the queue of messages
	// waiting for validation. Local publishes go through it too; when it is
	// full messages, including our own, are dropped.
	DefaultValidateQueueSize = 1024
	// DefaultScoreInspectPeriod is how often a ScoreBook is refreshed.
	DefaultScoreInspectPeriod = time.Second
)

// PubSubConfig configures NewGossipSub.
type PubSubConfig struct {
	// MaxMessageSize bounds every gossip message; 0 means
	// DefaultMaxMessageSize.
	MaxMessageSize int
	// ValidateQueueSize is the validation queue length; 0 means
	// DefaultValidateQueueSize.
	ValidateQueueSize int
	// AppScore, if set, adds an application-specific term to every peer's
	// score (weight 1): return a negative value to penalise a peer (the sync
	// protocol does so for peers serving invalid blocks). Scores below
	// GraylistThreshold (-2500) make gossipsub ignore the peer altogether.
	// It is called often from the pubsub event loop: keep it fast.
	AppScore func(peer.ID) float64
	// ScoreBook, if set, receives every peer's score every
	// ScoreInspectPeriod (0 means DefaultScoreInspectPeriod).
	ScoreBook          *ScoreBook
	ScoreInspectPeriod time.Duration
	// Options are extra go-libp2p-pubsub options applied last (e.g. a
	// tracer).
	Options []pubsub.Option
}

// NewGossipSub starts gossipsub on h, configured for a blockchain:
//   - message ID = SHA-256 of the data, so a block or transaction relayed by
//     many peers (or published by several) is delivered once;
//   - flood publishing of our own messages, so they reach every subscribed
//     peer even before the mesh has formed (the mesh forms on 1s heartbeats);
//   - a bounded message size and a large validation queue;
//   - strict message signing (the default);
//   - peer scoring (PeerScoreParams, PeerScoreThresholds); join topics with
//     JoinTopic so they get TopicScoreParams and invalid messages cost the
//     sender score.
//
// It stops when ctx is done.
func NewGossipSub(ctx context.Context, h host.Host, cfg PubSubConfig) (*pubsub.PubSub, error) {
	maxSize := cfg.MaxMessageSize
	if maxSize <= 0 {
		maxSize = DefaultMaxMessageSize
	}
	queue := cfg.ValidateQueueSize
	if queue <= 0 {
		queue = DefaultValidateQueueSize
	}
	opts := []pubsub.Option{
		pubsub.WithMessageIdFn(contentMessageID),
		pubsub.WithMaxMessageSize(maxSize),
		pubsub.WithFloodPublish(true),
		pubsub.WithValidateQueueSize(queue),
		pubsub.WithPeerScore(PeerScoreParams(cfg.AppScore), PeerScoreThresholds()),
	}
	if cfg.ScoreBook != nil {
		period := cfg.ScoreInspectPeriod
		if period <= 0 {
			period = DefaultScoreInspectPeriod
		}
		// Must come after WithPeerScore.
		opts = append(opts, pubsub.WithPeerScoreInspect(cfg.ScoreBook.update, period))
	}
	opts = append(opts, cfg.Options...)
	ps, err := pubsub.NewGossipSub(ctx, h, opts...)
	if err != nil {
		return nil, fmt.Errorf("start gossipsub: %w", err)
	}
	return ps, nil
}

// contentMessageID identifies a gossip message by the SHA-256 of its data.
func contentMessageID(m *pb.Message) string {
	sum := sha256.Sum256(m.GetData())
	return string(sum[:])
}

// PeerScoreParams returns the peer scoring parameters used by NewGossipSub.
// Per-topic parameters are added by JoinTopic. app may be nil.
func PeerScoreParams(app func(peer.ID) float64) *pubsub.PeerScoreParams {
	if app == nil {
		app = func(peer.ID) float64 { return 0 }
	}
	return &pubsub.PeerScoreParams{
		Topics:            make(map[string]*pubsub.TopicScoreParams),
		TopicScoreCap:     100,
		AppSpecificScore:  app,
		AppSpecificWeight: 1,
		// More than 5 peers behind one IP cost each of them. Loopback is
		// exempt: that is a developer's local cluster.
		IPColocationFactorWeight:    -20,
		IPColocationFactorThreshold: 5,
		IPColocationFactorWhitelist: []*net.IPNet{
			{IP: net.IPv4(127, 0, 0, 0).To4(), Mask: net.CIDRMask(8, 32)},
			{IP: net.IPv6loopback, Mask: net.CIDRMask(128, 128)},
		},
		// Protocol misbehaviour (e.g. re-grafting during backoff, broken
		// IWANT promises).
		BehaviourPenaltyWeight:    -10,
		BehaviourPenaltyThreshold: 6,
		BehaviourPenaltyDecay:     pubsub.ScoreParameterDecay(time.Hour),
		DecayInterval:             pubsub.DefaultDecayInterval,
		DecayToZero:               pubsub.DefaultDecayToZero,
		RetainScore:               time.Hour,
	}
}

// PeerScoreThresholds returns the score thresholds used by NewGossipSub:
// below -500 a peer gets no gossip, below -1000 we do not publish to it,
// below -2500 its messages are ignored.
func PeerScoreThresholds() *pubsub.PeerScoreThresholds {
	return &pubsub.PeerScoreThresholds{
		GossipThreshold:             -500,
		PublishThreshold:            -1000,
		GraylistThreshold:           -2500,
		AcceptPXThreshold:           1000,
		OpportunisticGraftThreshold: 3.5,
	}
}

// TopicScoreParams returns the score parameters JoinTopic gives a topic.
// A peer earns a little for time in the mesh and for being first to deliver
// valid messages (at most 60 per topic), and loses 100 × n² for n messages
// it sent that a validator Rejected (decaying over about 30 minutes): one
// invalid message outweighs any earned credit on that topic, five more put
// the peer on the graylist. Validators should Reject only data that is
// invalid for everyone, and Ignore what is merely stale or already known.
// Mesh-delivery-rate penalties are off: blocks are rare, and a quiet mesh
// peer is not a faulty one.
func TopicScoreParams() *pubsub.TopicScoreParams {
	return &pubsub.TopicScoreParams{
		TopicWeight:                    1,
		TimeInMeshWeight:               0.01,
		TimeInMeshQuantum:              time.Second,
		TimeInMeshCap:                  1000,
		FirstMessageDeliveriesWeight:   1,
		FirstMessageDeliveriesDecay:    pubsub.ScoreParameterDecay(time.Hour),
		FirstMessageDeliveriesCap:      50,
		InvalidMessageDeliveriesWeight: -100,
		InvalidMessageDeliveriesDecay:  pubsub.ScoreParameterDecay(30 * time.Minute),
	}
}

// TopicConfig configures JoinTopic.
type TopicConfig struct {
	// Validator, if set, checks every message, local publishes included,
	// before it is delivered or forwarded: Accept, Ignore (drop, no
	// penalty) or Reject (drop and penalise the sender).
	Validator pubsub.ValidatorEx
	// ValidatorConcurrency bounds concurrent validations on this topic;
	// beyond it messages are dropped. 0 means the library default (1024).
	ValidatorConcurrency int
	// ValidatorTimeout bounds one validation; 0 means no limit.
	ValidatorTimeout time.Duration
	// ScoreParams overrides TopicScoreParams() for this topic.
	ScoreParams *pubsub.TopicScoreParams
}

// JoinTopic registers cfg.Validator for name, joins the topic and sets its
// score parameters. Register before subscribing, as this does, so no
// message is delivered unvalidated. To leave, close the topic (after
// cancelling its subscriptions) and call ps.UnregisterTopicValidator.
func JoinTopic(ps *pubsub.PubSub, name string, cfg TopicConfig) (*pubsub.Topic, error) {
	if cfg.Validator != nil {
		var vopts []pubsub.ValidatorOpt
		if cfg.ValidatorConcurrency > 0 {
			vopts = append(vopts, pubsub.WithValidatorConcurrency(cfg.ValidatorConcurrency))
		}
		if cfg.ValidatorTimeout > 0 {
			vopts = append(vopts, pubsub.WithValidatorTimeout(cfg.ValidatorTimeout))
		}
		if err := ps.RegisterTopicValidator(name, cfg.Validator, vopts...); err != nil {
			return nil, fmt.Errorf("topic %s: register validator: %w", name, err)
		}
	}
	fail := func(err error) (*pubsub.Topic, error) {
		if cfg.Validator != nil {
			_ = ps.UnregisterTopicValidator(name)
		}
		return nil, fmt.Errorf("topic %s: %w", name, err)
	}
	t, err := ps.Join(name)
	if err != nil {
		return fail(err)
	}
	params := cfg.ScoreParams
	if params == nil {
		params = TopicScoreParams()
	}
	if err := t.SetScoreParams(params); err != nil {
		return fail(errors.Join(err, t.Close()))
	}
	return t, nil
}

// TopicNames returns the network's gossip topic names, derived from its
// genesis hash so different networks never share a topic.
func TopicNames(genesisHash []byte) (txTopic, blockTopic string) {
	prefix := "/gossipchain/" + genesisTag(genesisHash)
	return prefix + "/tx/1", prefix + "/blocks/1"
}

// genesisTag is the hex of the first 8 bytes of a genesis hash.
func genesisTag(genesisHash []byte) string {
	return hex.EncodeToString(genesisHash[:min(8, len(genesisHash))])
}

// ScoreBook keeps the latest gossipsub score of every known peer; give it
// to NewGossipSub through PubSubConfig.ScoreBook. The zero value is ready to
// use and it is safe for concurrent use.
type ScoreBook struct {
	mu     sync.RWMutex
	scores map[peer.ID]float64
}

// Score returns p's latest score, 0 if unknown.
func (b *ScoreBook) Score(p peer.ID) float64 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.scores[p]
}

// Scores returns a copy of all latest scores.
func (b *ScoreBook) Scores() map[peer.ID]float64 {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return maps.Clone(b.scores)
}

func (b *ScoreBook) update(scores map[peer.ID]float64) {
	scores = maps.Clone(scores)
	b.mu.Lock()
	b.scores = scores
	b.mu.Unlock()
}
