package pow

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestMeasureRates(t *testing.T) {
	r, err := MeasureRates(context.Background(), 10*time.Millisecond, 2)
	if err != nil {
		t.Fatal(err)
	}
	// No timing thresholds here (they belong in benchmarks): only that
	// every figure was measured and the derived ones follow.
	if r.RawHashesPerS <= 0 || r.HashesPerS1 <= 0 || r.HashesPerSAll <= 0 || r.WorkersAll != 2 {
		t.Fatalf("rates not measured: %+v", r)
	}
	if r.Ratio1 != r.HashesPerS1/r.RawHashesPerS || r.Scaling != r.HashesPerSAll/r.HashesPerS1 {
		t.Fatalf("derived figures wrong: %+v", r)
	}
	js, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"raw_hashes_per_s", "hashes_per_s_1", "hashes_per_s_all", "workers_all", "ratio_1", "scaling"} {
		if !strings.Contains(string(js), `"`+k+`":`) {
			t.Errorf("JSON %s lacks %q", js, k)
		}
	}
}

func TestMeasureRatesErrors(t *testing.T) {
	if _, err := MeasureRates(context.Background(), 0, 1); !errors.Is(err, ErrInvalidDuration) {
		t.Errorf("zero duration: err = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := MeasureRates(ctx, time.Second, 1); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
}
