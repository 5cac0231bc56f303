package pow

import (
	"crypto/sha256"
	"encoding/binary"
	"runtime"
	"sync/atomic"
	"testing"
)

// Run briefly, e.g.:
//
//	go test -run '^$' -bench . -benchtime 200ms ./pow/

// BenchmarkRawSHA256_55B is the yardstick: one compression per call.
func BenchmarkRawSHA256_55B(b *testing.B) {
	var msg [55]byte
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		binary.BigEndian.PutUint64(msg[47:], uint64(i))
		sum := sha256.Sum256(msg[:])
		msg[0] ^= sum[0]
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hashes/s")
}

// BenchmarkMinerHash1Worker is the per-hash cost of the worker inner loop —
// midstate restore, tail compression, target comparison, batch bookkeeping —
// on a 92-byte header with a target no hash meets.
func BenchmarkMinerHash1Worker(b *testing.B) {
	var stop atomic.Bool
	var hashes atomic.Uint64
	w := newNonceHasher(make([]byte, 92), true)
	b.ReportAllocs()
	b.ResetTimer()
	w.search(Target{}, 0, 1, uint64(b.N-1), &stop, &hashes)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "hashes/s")
}

// BenchmarkMinerAllCores runs one worker loop per core on disjoint strides,
// as Search does; ns/op is wall time per hash across all of them.
func BenchmarkMinerAllCores(b *testing.B) {
	workers := runtime.NumCPU()
	var stop atomic.Bool
	var hashes atomic.Uint64
	header := make([]byte, 92)
	ws := make([]*nonceHasher, workers)
	for i := range ws {
		ws[i] = newNonceHasher(header, true)
	}
	per := uint64(b.N/workers + 1)
	b.ReportAllocs()
	b.ResetTimer()
	done := make(chan struct{})
	for i, w := range ws {
		go func() {
			first, stride := uint64(i), uint64(workers)
			w.search(Target{}, first, stride, first+(per-1)*stride, &stop, &hashes)
			done <- struct{}{}
		}()
	}
	for range ws {
		<-done
	}
	b.StopTimer()
	b.ReportMetric(float64(hashes.Load())/b.Elapsed().Seconds(), "hashes/s")
	b.ReportMetric(float64(workers), "workers")
}
