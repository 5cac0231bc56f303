package pow

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"runtime"
	"time"
)

// Rates are hashing speeds measured on this machine, for the bench command.
type Rates struct {
	// RawHashesPerS is crypto/sha256.Sum256 of a 55-byte message (one
	// compression) on one core: the yardstick.
	RawHashesPerS float64 `json:"raw_hashes_per_s"`
	// HashesPerS1 is the miner with one worker.
	HashesPerS1 float64 `json:"hashes_per_s_1"`
	// HashesPerSAll is the miner with WorkersAll workers.
	HashesPerSAll float64 `json:"hashes_per_s_all"`
	WorkersAll    int     `json:"workers_all"`
	// Ratio1 is HashesPerS1 / RawHashesPerS: the miner's per-core
	// efficiency, which can exceed 1 as it skips work Sum256 does.
	Ratio1 float64 `json:"ratio_1"`
	// Scaling is HashesPerSAll / HashesPerS1.
	Scaling float64 `json:"scaling"`
}

// measureHeaderSize is a typical gossipchain header: a midstate block plus a
// one-block tail per nonce.
const measureHeaderSize = 92

// MeasureRates measures, one after another and each for d, the raw SHA-256
// rate, the miner with one worker and the miner with workers workers (0 or
// less = all cores). It uses the CPU fully for about 3×d.
func MeasureRates(ctx context.Context, d time.Duration, workers int) (Rates, error) {
	if d <= 0 {
		return Rates{}, fmt.Errorf("measure for %v: %w", d, ErrInvalidDuration)
	}
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	r := Rates{WorkersAll: workers}
	var err error
	if r.RawHashesPerS, err = measureRaw(ctx, d); err != nil {
		return Rates{}, err
	}
	if r.HashesPerS1, err = measureMiner(ctx, d, 1); err != nil {
		return Rates{}, err
	}
	if r.HashesPerSAll, err = measureMiner(ctx, d, workers); err != nil {
		return Rates{}, err
	}
	if r.RawHashesPerS > 0 {
		r.Ratio1 = r.HashesPerS1 / r.RawHashesPerS
	}
	if r.HashesPerS1 > 0 {
		r.Scaling = r.HashesPerSAll / r.HashesPerS1
	}
	return r, nil
}

// measureRaw returns Sum256 calls per second on a 55-byte message over d.
func measureRaw(ctx context.Context, d time.Duration) (float64, error) {
	var msg [55]byte
	start := time.Now()
	var n uint64
	for {
		for range 1024 { // amortise the clock read
			binary.BigEndian.PutUint64(msg[len(msg)-8:], n)
			sum := sha256.Sum256(msg[:])
			msg[0] ^= sum[0] // use the result, so it must be computed
			n++
		}
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		if elapsed := time.Since(start); elapsed >= d {
			return float64(n) / elapsed.Seconds(), nil
		}
	}
}

// measureMiner returns a miner's hash rate searching for d with a target no
// hash meets.
func measureMiner(ctx context.Context, d time.Duration, workers int) (float64, error) {
	sctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	m := NewMiner(workers)
	// The zero target is met only by the all-zero hash: never, in practice.
	if _, _, err := m.Search(sctx, make([]byte, measureHeaderSize), Target{}); err != nil && ctx.Err() != nil {
		return 0, ctx.Err()
	}
	return m.HashRate(), nil
}
