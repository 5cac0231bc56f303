package node

import (
	"context"
	"testing"
	"time"
)

// Blocks a download brings in name the peer that served them, in the
// arrivals log and in the events (the dashboard showed "from " and "–").
func TestDownloadNamesItsSource(t *testing.T) {
	a := testNode(t, "")
	b := testNode(t, "")
	mineN(t, a, 5)
	events, cancel := b.Subscribe()
	defer cancel()
	connectNodes(t, b, a)
	ctx, stop := context.WithTimeout(context.Background(), 20*time.Second)
	defer stop()
	for b.Chain().Tip().Hash != a.Chain().Tip().Hash {
		if ctx.Err() != nil {
			t.Fatal("b did not sync")
		}
		b.SyncFrom(ctx, a.ID())
	}
	// The download notes arrivals just after the commit that moves the
	// tip: a sync of b's own (it syncs by itself too) may have moved it
	// an instant before.
	waitFor(t, 10*time.Second, "the head's arrival noted", func() bool {
		_, ok := b.BlockArrival(a.Chain().Tip().Hash)
		return ok
	})
	arr, ok := b.BlockArrival(a.Chain().Tip().Hash)
	if !ok || arr.Source != a.ID().String() {
		t.Fatalf("arrival of the head: %+v (found %v), want source %s", arr, ok, a.ID())
	}
	for {
		select {
		case ev := <-events:
			if ev.Kind == EventBlockAdded && ev.Block.Hash() == a.Chain().Tip().Hash {
				if ev.Source != a.ID().String() {
					t.Fatalf("block-added event from %q, want %s", ev.Source, a.ID())
				}
				return
			}
		case <-ctx.Done():
			t.Fatal("no block-added event for the head")
		}
	}
}
