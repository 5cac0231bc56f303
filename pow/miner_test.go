package pow

import (
	"context"
	"crypto/sha256"
	"errors"
	"math"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(time.Millisecond)
	}
}

func easyTarget(t *testing.T, zeroBits uint) Target {
	t.Helper()
	target, err := TargetFromBits(BitsForLeadingZeros(zeroBits))
	if err != nil {
		t.Fatal(err)
	}
	return TargetBytes(target)
}

func TestSearchFindsValidNonce(t *testing.T) {
	target := easyTarget(t, 10)
	for _, workers := range []int{1, 2, 4, 0} {
		for _, n := range []int{8, 40, 68, 92, 130} {
			header := testHeader(n)
			orig := string(header)
			m := NewMiner(workers)
			nonce, hash, err := m.Search(context.Background(), header, target)
			if err != nil {
				t.Fatalf("workers %d len %d: %v", workers, n, err)
			}
			if want := sha256.Sum256(withNonce(header, nonce)); hash != want {
				t.Fatalf("workers %d len %d: hash %x, want %x", workers, n, hash, want)
			}
			if !target.Met(&hash) {
				t.Fatalf("workers %d len %d: hash %x misses target", workers, n, hash)
			}
			if string(header) != orig {
				t.Fatalf("workers %d len %d: caller's header modified", workers, n)
			}
			if m.TotalHashes() == 0 || m.HashRate() <= 0 {
				t.Fatalf("workers %d: total %d, rate %v", workers, m.TotalHashes(), m.HashRate())
			}
		}
	}
}

func TestSearchCancelStopsPromptly(t *testing.T) {
	m := NewMiner(2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type result struct {
		nonce uint64
		err   error
	}
	done := make(chan result, 1)
	go func() {
		n, _, err := m.Search(ctx, testHeader(92), Target{}) // impossible
		done <- result{n, err}
	}()
	waitFor(t, 10*time.Second, "hashing to start", func() bool { return m.TotalHashes() > 0 })
	if m.HashRate() <= 0 {
		t.Error("HashRate should be positive while searching")
	}
	cancel()
	select {
	case r := <-done:
		if !errors.Is(r.err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", r.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Search did not return after cancel")
	}
	// Every worker has stopped: the counter no longer moves.
	total := m.TotalHashes()
	for range 3 {
		runtime.Gosched()
		if m.TotalHashes() != total {
			t.Fatal("hashing continued after Search returned")
		}
	}
}

func TestSearchDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, _, err := NewMiner(2).Search(ctx, testHeader(92), Target{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
}

func TestSearchAlreadyCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m := NewMiner(1)
	if _, _, err := m.Search(ctx, testHeader(92), Target{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if m.TotalHashes() != 0 {
		t.Fatal("hashed with a cancelled context")
	}
}

func TestSearchShortHeader(t *testing.T) {
	_, _, err := NewMiner(1).Search(context.Background(), make([]byte, 7), Target{})
	if !errors.Is(err, ErrHeaderTooShort) {
		t.Fatalf("err = %v, want ErrHeaderTooShort", err)
	}
}

func TestZeroMinerUsesAllCores(t *testing.T) {
	var m Miner
	if m.workers() < 1 {
		t.Fatal("zero Miner has no workers")
	}
	if m.HashRate() != 0 {
		t.Fatal("HashRate before any search should be 0")
	}
	if _, _, err := m.Search(context.Background(), testHeader(92), easyTarget(t, 4)); err != nil {
		t.Fatal(err)
	}
}

func TestWorkerWalksItsStride(t *testing.T) {
	header := testHeader(92)
	target := easyTarget(t, 8)
	var stop atomic.Bool
	var hashes atomic.Uint64
	const stride = 3
	for first := uint64(0); first < stride; first++ {
		// The reference: the first nonce of first, first+stride, ... that
		// meets the target.
		want := first
		for {
			h := sha256.Sum256(withNonce(header, want))
			if target.Met(&h) {
				break
			}
			want += stride
		}
		w := newNonceHasher(header, true)
		n, ok := w.search(target, first, stride, lastNonce(first, stride), &stop, &hashes)
		if !ok || n != want {
			t.Fatalf("worker %d of %d: got %d, %v; want %d", first, stride, n, ok, want)
		}
	}
}

func TestWorkerExhaustsItsShare(t *testing.T) {
	var stop atomic.Bool
	var hashes atomic.Uint64
	w := newNonceHasher(testHeader(92), true)
	first := uint64(math.MaxUint64 - 10)
	if _, ok := w.search(Target{}, first, 4, lastNonce(first, 4), &stop, &hashes); ok {
		t.Fatal("found a nonce for an impossible target")
	}
	// MaxUint64-10, -6, -2: three nonces, then no wrap to small ones.
	if got := hashes.Load(); got != 3 {
		t.Fatalf("hashed %d nonces, want 3", got)
	}
	if got := lastNonce(0, 1); got != math.MaxUint64 {
		t.Fatalf("lastNonce(0, 1) = %d", got)
	}
}

func TestWorkerLoopNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("-race makes the stdlib's AppendBinary allocate; run without -race")
	}
	var stop atomic.Bool
	var hashes atomic.Uint64
	w := newNonceHasher(testHeader(92), true)
	allocs := testing.AllocsPerRun(5, func() {
		w.search(Target{}, 0, 1, 3*batchSize, &stop, &hashes)
	})
	if allocs != 0 {
		t.Fatalf("%v allocs per %d hashes, want 0", allocs, 3*batchSize)
	}
}
