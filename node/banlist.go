package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Severity is how bad an offence is, in penalty points. Points decay (half
// of them are forgiven every PenaltyHalfLife); a peer whose points reach
// BanThreshold is banned for Config.BanDuration.
type Severity float64

// Severities for Node.Penalize.
const (
	// SeverityLight is for what an honest peer may do by accident or by a
	// race: an invalid or stale transaction, a rate limit overrun. About
	// ten within the half-life ban.
	SeverityLight Severity = 10
	// SeverityMedium is for what costs us work and no honest peer should
	// send: a block below the work we require, a malformed gossip message.
	// Three within the half-life ban.
	SeverityMedium Severity = 40
	// SeveritySevere is proof of a broken or malicious peer: an invalid
	// block, garbage on the sync protocol. It bans at once.
	SeveritySevere Severity = BanThreshold
)

// Ban-list parameters.
const (
	// BanThreshold is the penalty at which a peer is banned.
	BanThreshold = 100
	// PenaltyHalfLife is how long it takes half a peer's points to decay.
	PenaltyHalfLife = time.Hour
	// DefaultBanDuration is Config.BanDuration's default.
	DefaultBanDuration = 24 * time.Hour
	// BanFile, in the data directory, holds the bans across restarts.
	BanFile = "banned.json"

	maxPenalised = 4096 // peers with points and no ban: the lowest are forgotten first
	maxBans      = 4096 // bans: the one ending soonest is lifted first
)

// BanInfo is one ban, as listed by Node.Banned and stored in BanFile.
type BanInfo struct {
	Peer   string    `json:"peer"`
	Until  time.Time `json:"until"`
	Reason string    `json:"reason"`
}

// banList keeps penalty points and bans, both bounded, and is the host's
// connection gater: a banned peer can neither dial us nor be dialled.
type banList struct {
	path     string // BanFile; "" = not persisted
	duration time.Duration
	now      func() time.Time
	log      *slog.Logger

	mu        sync.Mutex
	points    map[peer.ID]penalty
	bans      map[peer.ID]BanInfo
	maxPoints int
	maxBans   int

	saveMu sync.Mutex // one writer of path at a time, in order
}

// penalty is a peer's points as of a moment; they decay from there.
type penalty struct {
	points float64
	at     time.Time
}

func (p penalty) now(t time.Time) float64 {
	dt := t.Sub(p.at)
	if dt <= 0 {
		return p.points
	}
	return p.points * math.Exp2(-float64(dt)/float64(PenaltyHalfLife))
}

func newBanList(path string, duration time.Duration, log *slog.Logger) *banList {
	return &banList{
		path:      path,
		duration:  duration,
		now:       time.Now,
		log:       log,
		points:    make(map[peer.ID]penalty),
		bans:      make(map[peer.ID]BanInfo),
		maxPoints: maxPenalised,
		maxBans:   maxBans,
	}
}

// add charges p with sev points and bans it if they reach BanThreshold. It
// returns whether p is banned (now or already) and its points.
func (b *banList) add(p peer.ID, sev Severity, reason string) (banned bool, points float64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if b.isBannedLocked(p, now) {
		return true, BanThreshold
	}
	e, ok := b.points[p]
	if !ok && len(b.points) >= b.maxPoints {
		b.evictLowestLocked(now)
	}
	points = e.now(now) + float64(sev)
	if points < BanThreshold {
		b.points[p] = penalty{points, now}
		return false, points
	}
	delete(b.points, p)
	if len(b.bans) >= b.maxBans {
		b.evictSoonestLocked(now)
	}
	b.bans[p] = BanInfo{Peer: p.String(), Until: now.Add(b.duration), Reason: reason}
	return true, BanThreshold
}

// evictLowestLocked forgets the peer with the fewest points now (the one
// charged longest ago among equals), making room for another.
func (b *banList) evictLowestLocked(now time.Time) {
	var victim peer.ID
	var low float64
	var at time.Time
	first := true
	for p, e := range b.points {
		v := e.now(now)
		if first || v < low || (v == low && e.at.Before(at)) {
			victim, low, at, first = p, v, e.at, false
		}
	}
	delete(b.points, victim)
}

// evictSoonestLocked drops expired bans and, if the list is still full,
// the ban ending soonest.
func (b *banList) evictSoonestLocked(now time.Time) {
	var victim peer.ID
	var soonest time.Time
	for p, ban := range b.bans {
		if !now.Before(ban.Until) {
			delete(b.bans, p)
			continue
		}
		if victim == "" || ban.Until.Before(soonest) {
			victim, soonest = p, ban.Until
		}
	}
	if len(b.bans) >= b.maxBans {
		delete(b.bans, victim)
	}
}

func (b *banList) isBannedLocked(p peer.ID, now time.Time) bool {
	ban, ok := b.bans[p]
	if !ok {
		return false
	}
	if now.Before(ban.Until) {
		return true
	}
	delete(b.bans, p) // expired; the file forgets it at the next save
	return false
}

func (b *banList) banned(p peer.ID) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.isBannedLocked(p, b.now())
}

// score is p's penalty now: its decayed points, or BanThreshold if banned.
func (b *banList) score(p peer.ID) float64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if b.isBannedLocked(p, now) {
		return BanThreshold
	}
	return b.points[p].now(now)
}

// list returns the bans in force, soonest to end first.
func (b *banList) list() []BanInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	out := make([]BanInfo, 0, len(b.bans))
	for p, ban := range b.bans {
		if b.isBannedLocked(p, now) {
			out = append(out, ban)
		}
	}
	slices.SortFunc(out, func(x, y BanInfo) int {
		if c := x.Until.Compare(y.Until); c != 0 {
			return c
		}
		return strings.Compare(x.Peer, y.Peer)
	})
	return out
}

// unban lifts p's ban and forgets its points; it reports whether p was
// banned.
func (b *banList) unban(p peer.ID) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	was := b.isBannedLocked(p, b.now())
	delete(b.bans, p)
	delete(b.points, p)
	return was
}

// unbanAll lifts every ban and returns the peers that were banned.
func (b *banList) unbanAll() []peer.ID {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	var out []peer.ID
	for p := range b.bans {
		if b.isBannedLocked(p, now) {
			out = append(out, p)
		}
	}
	clear(b.bans)
	return out
}

// banFile is BanFile's layout.
type banFile struct {
	Banned []BanInfo `json:"banned"`
}

// save writes the bans in force to path, atomically.
func (b *banList) save() error {
	if b.path == "" {
		return nil
	}
	b.saveMu.Lock()
	defer b.saveMu.Unlock()
	data, err := json.MarshalIndent(banFile{Banned: b.list()}, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(b.path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("save bans: %w", err)
	}
	return nil
}

// load reads path, keeping the bans that have not expired (at most
// maxBans, the longest). A missing file is no bans.
func (b *banList) load() error {
	if b.path == "" {
		return nil
	}
	data, err := os.ReadFile(b.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("load bans: %w", err)
	}
	var f banFile
	if err := json.Unmarshal(data, &f); err != nil {
		return fmt.Errorf("load bans from %s: %w", b.path, err)
	}
	slices.SortFunc(f.Banned, func(x, y BanInfo) int { return y.Until.Compare(x.Until) })
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	for _, ban := range f.Banned {
		p, err := peer.Decode(ban.Peer)
		if err != nil || !now.Before(ban.Until) || len(b.bans) >= b.maxBans {
			continue
		}
		b.bans[p] = ban
	}
	return nil
}

// The connection gater: a banned peer is refused before any stream is
// opened, whichever side dials. Everything else is allowed.

func (b *banList) InterceptPeerDial(p peer.ID) bool { return !b.banned(p) }

func (b *banList) InterceptAddrDial(peer.ID, ma.Multiaddr) bool { return true }

func (b *banList) InterceptAccept(network.ConnMultiaddrs) bool { return true }

func (b *banList) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return !b.banned(p)
}

func (b *banList) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

// Penalize charges a misbehaving peer with an offence of the given
// severity (SeverityLight, SeverityMedium, SeveritySevere, or any number
// of points). Its points lower its gossipsub score and its connection
// manager tag; once they reach BanThreshold the peer is banned for
// Config.BanDuration: disconnected, refused at connection time, and the
// ban saved to BanFile. It reports whether the peer is banned. Safe to
// call from validators and handlers.
func (n *Node) Penalize(p peer.ID, sev Severity, reason string) (banned bool) {
	if p == "" || p == n.host.ID() {
		return false
	}
	banned, points := n.bans.add(p, sev, reason)
	n.metrics.PeersPenalised.Add(1)
	n.host.ConnManager().TagPeer(p, "misbehaved", -int(points))
	if !banned {
		n.log.Info("penalising peer", "peer", p, "points", points, "reason", reason)
		return false
	}
	n.log.Warn("banning peer", "peer", p, "for", n.cfg.BanDuration, "reason", reason)
	if err := n.bans.save(); err != nil {
		n.log.Warn("ban not saved", "peer", p, "err", err)
	}
	n.host.Network().ClosePeer(p)
	return true
}

// Banned lists the bans in force, soonest to end first.
func (n *Node) Banned() []BanInfo { return n.bans.list() }

// IsBanned reports whether p is banned now.
func (n *Node) IsBanned(p peer.ID) bool { return n.bans.banned(p) }

// Unban lifts p's ban and forgets its penalties. It reports whether p was
// banned; the error is from saving the list.
func (n *Node) Unban(p peer.ID) (bool, error) {
	was := n.bans.unban(p)
	n.host.ConnManager().UntagPeer(p, "misbehaved")
	clearDialBackoff(n.host, p)
	if !was {
		return false, nil
	}
	n.log.Info("unbanned peer", "peer", p)
	return true, n.bans.save()
}

// UnbanAll lifts every ban and returns the peers that were banned.
func (n *Node) UnbanAll() ([]peer.ID, error) {
	ps := n.bans.unbanAll()
	for _, p := range ps {
		n.host.ConnManager().UntagPeer(p, "misbehaved")
		clearDialBackoff(n.host, p)
	}
	n.log.Info("unbanned all peers", "count", len(ps))
	return ps, n.bans.save()
}

// appScore is gossipsub's application-specific score: minus our penalty.
func (n *Node) appScore(p peer.ID) float64 { return -n.bans.score(p) }

// Penalty is a peer's penalty points now (decayed; BanThreshold while it
// is banned; 0 for none).
func (n *Node) Penalty(p peer.ID) float64 { return n.bans.score(p) }
