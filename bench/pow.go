package bench

import (
	"context"
	"fmt"
	"io"

	"github.com/gossipchain/gossipchain/pow"
)

// PowResult is the miner's hash rate next to the raw SHA-256 rate.
type PowResult struct {
	Mode string `json:"mode"` // "pow"
	pow.Rates
	Seconds  float64 `json:"seconds_each"`
	LoadAvg1 float64 `json:"load_avg_1m"` // before the measurement
}

// Pow measures the raw single-core SHA-256 rate of a one-block message, the
// miner with one worker and with PowWorkers workers, each for PowDuration
// (pow.MeasureRates).
func Pow(ctx context.Context, o Options) (*PowResult, error) {
	o.setDefaults()
	r := &PowResult{Mode: "pow", Seconds: o.PowDuration.Seconds(), LoadAvg1: LoadAvg()}
	o.logf("pow: %v each for raw SHA-256, 1 worker, %d workers", o.PowDuration, o.PowWorkers)
	rates, err := pow.MeasureRates(ctx, o.PowDuration, o.PowWorkers)
	if err != nil {
		return nil, err
	}
	r.Rates = rates
	return r, nil
}

// Table implements Result.
func (r *PowResult) Table(w io.Writer) {
	t := newTable("pow", r.LoadAvg1)
	t.row("raw SHA-256, 1 core (55-byte msg)", mhs(r.RawHashesPerS), "", "")
	t.row("miner, 1 worker", mhs(r.HashesPerS1), "", "")
	t.row(fmt.Sprintf("miner, %d workers", r.WorkersAll), mhs(r.HashesPerSAll), "", "")
	t.row("1 worker / raw", fmt.Sprintf("%.2f", r.Ratio1), "≥ 0.90", met(r.Ratio1 >= 0.9))
	t.row(fmt.Sprintf("%d workers / 1 worker", r.WorkersAll), fmt.Sprintf("%.2f×", r.Scaling), "≥ 1.8× (2 workers)", met(r.Scaling >= 1.8))
	t.write(w)
}

func mhs(h float64) string { return fmt.Sprintf("%.2f MH/s", h/1e6) }
