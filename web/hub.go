package web

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/gossipchain/gossipchain/node"
)

// hub builds one snapshot per change, whatever the number of open
// dashboards, and pushes it to all of them: node events and new beacons
// mark it dirty, and it rebuilds at most once per MinPush, only while a
// dashboard is open. Every keepAlive an idle stream gets a fresh snapshot
// (peer latencies and ages change without events) — one build for all.
type hub struct {
	h    *Handler
	mu   sync.Mutex
	subs map[chan []byte]struct{}
	last *reorgJSON

	wake   chan struct{}
	done   chan struct{}
	closed bool
	once   sync.Once
	events <-chan node.Event
	unsub  func()
}

const keepAlive = 15 * time.Second

func newHub(h *Handler) *hub {
	u := &hub{h: h, subs: map[chan []byte]struct{}{}, wake: make(chan struct{}, 1), done: make(chan struct{})}
	u.events, u.unsub = h.n.Subscribe()
	go u.run()
	return u
}

func (u *hub) reorg() *reorgJSON {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.last
}

func (u *hub) clients() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.subs)
}

func (u *hub) run() {
	dirty := false
	var lastPush time.Time
	timer := time.NewTimer(keepAlive)
	defer timer.Stop()
	stats := u.h.n.StatsChanged()
	for {
		select {
		case <-u.done:
			return
		case e, ok := <-u.events:
			if !ok {
				u.close()
				return
			}
			if e.Kind == node.EventReorg {
				u.mu.Lock()
				u.last = &reorgJSON{At: time.Now().UnixMilli(), Index: e.Index, Disconnected: e.Disconnected, Connected: e.Connected, Source: e.Source}
				u.mu.Unlock()
			}
			dirty = true
		case <-stats:
			stats = u.h.n.StatsChanged()
			dirty = true
		case <-u.wake: // a new client: it got its own snapshot already
			continue
		case <-timer.C:
			dirty = true
		}
		if !dirty {
			continue
		}
		if u.clients() == 0 {
			dirty = false
			resetTimer(timer, keepAlive)
			continue
		}
		if wait := u.h.opts.MinPush - time.Since(lastPush); wait > 0 {
			resetTimer(timer, wait)
			continue
		}
		dirty = false
		lastPush = time.Now()
		u.broadcast()
		resetTimer(timer, keepAlive)
	}
}

func resetTimer(t *time.Timer, d time.Duration) {
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
	t.Reset(d)
}

func (u *hub) broadcast() {
	data, err := json.Marshal(u.h.build(u.reorg()))
	if err != nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	for ch := range u.subs {
		// Latest wins: a slow dashboard skips to the newest snapshot.
		select {
		case <-ch:
		default:
		}
		ch <- data
	}
}

func (u *hub) close() {
	u.once.Do(func() {
		close(u.done)
		u.unsub()
		u.mu.Lock()
		u.closed = true
		for ch := range u.subs {
			close(ch)
			delete(u.subs, ch)
		}
		u.mu.Unlock()
	})
}

// serve is one event stream: a snapshot at once, then one per change.
func (u *hub) serve(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	// The server's write timeout would cut the stream; this one lives
	// until the page goes away or the hub closes.
	_ = rc.SetWriteDeadline(time.Time{})
	ch := make(chan []byte, 1)
	u.mu.Lock()
	if u.closed {
		u.mu.Unlock()
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	u.subs[ch] = struct{}{}
	u.mu.Unlock()
	defer func() {
		u.mu.Lock()
		if _, ok := u.subs[ch]; ok {
			delete(u.subs, ch)
		}
		u.mu.Unlock()
	}()
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	first, err := json.Marshal(u.h.build(u.reorg()))
	if err != nil {
		return
	}
	if writeEvent(w, rc, first) != nil {
		return
	}
	select {
	case u.wake <- struct{}{}:
	default:
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case data, ok := <-ch:
			if !ok || writeEvent(w, rc, data) != nil {
				return
			}
		}
	}
}

func writeEvent(w http.ResponseWriter, rc *http.ResponseController, data []byte) error {
	if _, err := w.Write([]byte("event: snapshot\ndata: ")); err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	if _, err := w.Write([]byte("\n\n")); err != nil {
		return err
	}
	return rc.Flush()
}
