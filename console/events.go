package console

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gossipchain/gossipchain/node"
	"golang.org/x/term"
)

// printEvents prints the node's events with show (above the line being
// edited on t, the line editor) as they happen, until the returned function is called; that function waits for
// the printer to stop and may be called more than once. Events that come
// within eventInterval of the last print wait for the interval's end, and a
// run of blocks among them prints as one line, so a sync or fast mining
// does not flood the screen.
func (s *session) printEvents(t *term.Terminal, show func(string)) (stop func()) {
	events, unsubscribe := s.n.Subscribe()
	f := &eventFormatter{s: s, peers: make(map[string]bool)}
	for _, p := range s.n.Peers() {
		f.peers[p.ID] = true
	}
	f.start, f.end = string(t.Escape.Cyan), string(t.Escape.Reset)
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if r := recover(); r != nil {
				s.log.Error("console event printer panicked", "panic", r)
			}
		}()
		var (
			pending   []node.Event
			lastPrint time.Time
			timer     *time.Timer
			due       <-chan time.Time // set while pending waits
		)
		defer func() {
			if timer != nil {
				timer.Stop()
			}
		}()
		flush := func() {
			if text := f.format(pending); text != "" {
				show(text)
			}
			pending, due, lastPrint = pending[:0], nil, time.Now()
		}
		for {
			select {
			case e, ok := <-events:
				if !ok {
					return
				}
				pending = append(pending, e)
				switch wait := eventInterval - time.Since(lastPrint); {
				case len(pending) >= maxEventBatch || wait <= 0:
					flush()
				case due == nil:
					if timer == nil {
						timer = time.NewTimer(wait)
					} else {
						timer.Reset(wait)
					}
					due = timer.C
				}
			case <-due:
				flush()
			case <-quit:
				return
			}
		}
	}()
	var once sync.Once
	return func() {
		once.Do(func() {
			close(quit)
			unsubscribe()
			<-done
		})
	}
}

const (
	// eventInterval is the least time between two prints of events.
	eventInterval = 200 * time.Millisecond
	// maxEventBatch events are printed at once without waiting.
	maxEventBatch = 1024
)

// burst is how many blocks in a row from one source print as one line.
const burst = 4

// eventFormatter turns events into lines. It is used by one goroutine.
type eventFormatter struct {
	s          *session
	peers      map[string]bool // connected, to print each join and leave once
	start, end string          // colour
}

// format writes the lines for a batch of events, or "".
func (f *eventFormatter) format(batch []node.Event) string {
	show := make([]bool, len(batch)) // block events to print
	for i, e := range batch {
		show[i] = e.Kind == node.EventBlockAdded && f.showBlock(e)
	}
	var b strings.Builder
	for i := 0; i < len(batch); {
		e := batch[i]
		if show[i] {
			j := i + 1
			for j < len(batch) && show[j] && batch[j].Source == e.Source {
				j++
			}
			if j-i >= burst {
				first, last := batch[i].Block, batch[j-1].Block
				f.line(&b, "%d blocks #%d..#%d %s, head %s", j-i, first.Index, last.Index, from(e.Source), shortHash(last.Hash()))
			} else {
				for _, e := range batch[i:j] {
					f.block(&b, e)
				}
			}
			i = j
			continue
		}
		f.one(&b, e)
		i++
	}
	return b.String()
}

// showBlock says whether a block event is printed: not our own blocks that
// a mine command prints. It is called once per event.
func (f *eventFormatter) showBlock(e node.Event) bool {
	return e.Block != nil && !(e.Source == "local" && f.s.wasPrinted(e.Block.Hash()))
}

func (f *eventFormatter) block(b *strings.Builder, e node.Event) {
	blk := e.Block
	if e.Source == "local" {
		f.line(b, "mined block #%d %s (%s)", blk.Index, shortHash(blk.Hash()), plural(len(blk.Txs), "tx"))
		return
	}
	f.line(b, "block #%d %s %s (%s)", blk.Index, shortHash(blk.Hash()), from(e.Source), plural(len(blk.Txs), "tx"))
}

func (f *eventFormatter) one(b *strings.Builder, e node.Event) {
	switch e.Kind {
	case node.EventPeerConnected:
		id := e.Peer.String()
		if f.peers[id] {
			return // another connection to a known peer
		}
		f.peers[id] = true
		f.line(b, "peer joined %s (%s)", id, plural(len(f.peers), "peer"))
	case node.EventPeerLost:
		id := e.Peer.String()
		if !f.peers[id] {
			return
		}
		delete(f.peers, id)
		f.line(b, "peer left %s (%s)", id, plural(len(f.peers), "peer"))
	case node.EventReorg:
		f.line(b, "reorg %s: %s replaced by %d, head now #%d", from(e.Source), plural(e.Disconnected, "block"), e.Connected, e.Index)
	case node.EventTxReceived:
		if e.Source == "local" || e.Tx == nil {
			return // our own sends are printed by the send command
		}
		tx := e.Tx
		f.line(b, "tx %s %s: %d %s -> %s (fee %d)", shortHash(tx.ID()), from(e.Source), tx.Amount, f.s.shortAddr(tx.Sender), f.s.shortAddr(tx.Recipient), tx.Fee)
	}
}

func (f *eventFormatter) line(b *strings.Builder, format string, args ...any) {
	b.WriteString(f.start)
	b.WriteString("* ")
	fmt.Fprintf(b, format, args...)
	b.WriteString(f.end)
	b.WriteString("\n")
}

// from names an event's source.
func from(source string) string {
	switch source {
	case "local":
		return "mined here"
	case "":
		return "from a peer"
	}
	return "from " + shortPeer(source)
}
