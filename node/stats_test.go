package node

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	"github.com/libp2p/go-libp2p/core/peer"
)

func testBeacon(now time.Time, seen int) Beacon {
	b := Beacon{Sent: now.Truncate(time.Millisecond), HeadIndex: 42, Peers: 3, Mining: true, HashRate: 1_500_000, Mempool: 7}
	b.HeadHash[0] = 0xab
	for i := range seen {
		var h chain.Hash
		h[0] = byte(i + 1)
		b.Seen = append(b.Seen, SeenBlock{Hash: h, At: now.Add(-time.Duration(i) * time.Second).Truncate(time.Millisecond)})
	}
	return b
}

func TestBeaconRoundTrip(t *testing.T) {
	now := time.Now()
	for _, seen := range []int{0, 1, MaxBeaconSeen} {
		b := testBeacon(now, seen)
		data := EncodeBeacon(b)
		if len(data) != beaconFixed+seen*beaconSeenSize || len(data) > MaxBeaconSize {
			t.Fatalf("%d arrivals: %d bytes", seen, len(data))
		}
		got, err := DecodeBeacon(data)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Sent.Equal(b.Sent) || got.HeadIndex != 42 || got.HeadHash != b.HeadHash || got.Peers != 3 || !got.Mining || got.HashRate != 1.5e6 || got.Mempool != 7 || len(got.Seen) != seen {
			t.Fatalf("round trip: got %+v, want %+v", got, b)
		}
		for i := range got.Seen {
			if got.Seen[i].Hash != b.Seen[i].Hash || !got.Seen[i].At.Equal(b.Seen[i].At) {
				t.Fatalf("arrival %d: %+v, want %+v", i, got.Seen[i], b.Seen[i])
			}
		}
	}
	// More arrivals than fit are cut, not an error.
	long := testBeacon(now, MaxBeaconSeen)
	long.Seen = append(long.Seen, long.Seen...)
	if got, err := DecodeBeacon(EncodeBeacon(long)); err != nil || len(got.Seen) != MaxBeaconSeen {
		t.Fatalf("long beacon: %d arrivals, %v", len(got.Seen), err)
	}
}

func TestBeaconDecodeRefuses(t *testing.T) {
	good := EncodeBeacon(testBeacon(time.Now(), 2))
	mut := func(f func([]byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := map[string][]byte{
		"empty":        nil,
		"short":        good[:beaconFixed-1],
		"version":      mut(func(b []byte) []byte { b[0] = 2; return b }),
		"flags":        mut(func(b []byte) []byte { b[51] = 2; return b }),
		"count high":   mut(func(b []byte) []byte { b[beaconFixed-1] = 3; return b }),
		"count low":    mut(func(b []byte) []byte { b[beaconFixed-1] = 1; return b }),
		"count over":   mut(func(b []byte) []byte { b[beaconFixed-1] = MaxBeaconSeen + 1; return b }),
		"trailing":     append(bytes.Clone(good), 0),
		"oversized":    make([]byte, MaxBeaconSize+1),
		"cut in entry": good[:len(good)-1],
	}
	for name, data := range cases {
		if _, err := DecodeBeacon(data); !errors.Is(err, ErrBadBeacon) {
			t.Errorf("%s: err %v, want ErrBadBeacon", name, err)
		}
	}
}

func TestStatsTableValidation(t *testing.T) {
	now := time.Now()
	tab := newStatsTable()
	a, b := peer.ID("author-a"), peer.ID("author-b")
	enc := func(sent time.Time) []byte { return EncodeBeacon(testBeacon(sent, 1)) }

	if v, _ := tab.offer(a, []byte{1, 2, 3}, now); v != beaconReject {
		t.Fatalf("garbage: %v, want reject", v)
	}
	if v, _ := tab.offer(a, make([]byte, MaxBeaconSize+10), now); v != beaconReject {
		t.Fatalf("oversized: %v, want reject", v)
	}
	if v, _ := tab.offer(a, enc(now.Add(-BeaconMaxAge-time.Second)), now); v != beaconIgnore {
		t.Fatalf("stale: %v, want ignore", v)
	}
	if v, _ := tab.offer(a, enc(now.Add(BeaconMaxAhead+time.Second)), now); v != beaconIgnore {
		t.Fatalf("from the future: %v, want ignore", v)
	}
	ch := tab.watch()
	if v, err := tab.offer(a, enc(now), now); v != beaconAccept {
		t.Fatalf("fresh: %v %v, want accept", v, err)
	}
	select {
	case <-ch:
	default:
		t.Fatal("watchers not told of a new beacon")
	}
	// Rate limit: a second beacon within BeaconMinGap is ignored, even if newer.
	if v, _ := tab.offer(a, enc(now.Add(100*time.Millisecond)), now.Add(100*time.Millisecond)); v != beaconIgnore {
		t.Fatalf("too soon: %v, want ignore", v)
	}
	// Replay of an older beacon after the gap is ignored.
	if v, _ := tab.offer(a, enc(now.Add(-time.Second)), now.Add(2*time.Second)); v != beaconIgnore {
		t.Fatalf("replay: %v, want ignore", v)
	}
	if v, _ := tab.offer(a, enc(now.Add(2*time.Second)), now.Add(2*time.Second)); v != beaconAccept {
		t.Fatalf("next beacon: %v, want accept", v)
	}
	if v, _ := tab.offer(b, enc(now), now); v != beaconAccept {
		t.Fatalf("second author: %v", v)
	}
	if got := tab.list(now.Add(2 * time.Second)); len(got) != 2 || got[0].HeadIndex != 42 {
		t.Fatalf("list: %+v", got)
	}
	// Entries expire.
	if got := tab.list(now.Add(beaconExpiry + 3*time.Second)); len(got) != 0 {
		t.Fatalf("after expiry: %d entries", len(got))
	}
	// The table is bounded.
	for i := range maxBeaconAuthors + 10 {
		at := now.Add(time.Duration(i) * time.Millisecond)
		tab.offer(peer.ID(rune(i+1000)), enc(at), at)
	}
	if got := len(tab.list(now)); got != maxBeaconAuthors {
		t.Fatalf("table holds %d authors, want %d", got, maxBeaconAuthors)
	}
}

func TestArrivalLogBounded(t *testing.T) {
	l := newArrivalLog()
	t0 := time.Now()
	for i := range maxArrivals + 5 {
		var h chain.Hash
		h[0], h[1] = byte(i), byte(i>>8)
		l.note(h, "p", t0.Add(time.Duration(i)))
		l.note(h, "later", t0.Add(time.Hour)) // the first arrival counts
	}
	if len(l.byHash) != maxArrivals {
		t.Fatalf("%d arrivals kept", len(l.byHash))
	}
	r := l.recent(3)
	if len(r) != 3 || r[0].Time != t0.Add(time.Duration(maxArrivals+4)) || r[0].Source != "p" {
		t.Fatalf("recent: %+v", r)
	}
	var first chain.Hash
	if _, ok := l.get(first); ok {
		t.Fatal("the oldest arrival was not evicted")
	}
}

func FuzzDecodeBeacon(f *testing.F) {
	now := time.Now()
	f.Add(EncodeBeacon(testBeacon(now, 0)))
	f.Add(EncodeBeacon(testBeacon(now, 3)))
	f.Add(EncodeBeacon(testBeacon(now, MaxBeaconSeen)))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := DecodeBeacon(data)
		if err != nil {
			if !errors.Is(err, ErrBadBeacon) {
				t.Fatalf("error %v is not ErrBadBeacon", err)
			}
			return
		}
		// What decodes re-encodes to the same bytes (one encoding per beacon).
		if again := EncodeBeacon(b); !bytes.Equal(again, data) {
			t.Fatalf("re-encoding differs:\n%x\n%x", data, again)
		}
	})
}
