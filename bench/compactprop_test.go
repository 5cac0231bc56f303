package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// propagation --compact runs at a tiny size; no timing is asserted, but
// every way delivers every block, and compact blocks in sync are smaller
// than whole ones.
func TestCompactPropagationRuns(t *testing.T) {
	o := tiny(t)
	o.Compact = true
	o.BlockTxs = 200
	o.Samples = 2
	rs, err := Run(context.Background(), "propagation", o)
	if err != nil {
		t.Fatal(err)
	}
	r := rs[0].(*CompactResult)
	if r.Lost != 0 || r.BlockTxs != 200 || r.CompactBytes <= 0 || r.CompactBytes >= r.FullBytes || r.MissingRequests <= 0 || r.CompactAllocMB <= 0 {
		t.Fatalf("%+v", r)
	}
	var buf bytes.Buffer
	r.Table(&buf)
	if !strings.Contains(buf.String(), "of whole") {
		t.Fatal(buf.String())
	}
}

// --goal-only runs the latency goal's two ways only, and says so.
func TestCompactPropagationGoalOnly(t *testing.T) {
	o := tiny(t)
	o.Compact = true
	o.GoalOnly = true
	o.BlockTxs = 200
	o.Samples = 2
	rs, err := Run(context.Background(), "propagation", o)
	if err != nil {
		t.Fatal(err)
	}
	r := rs[0].(*CompactResult)
	if r.Lost != 0 || r.EmptyP95 <= 0 || r.CompactP95 <= 0 || r.CompactBytes <= 0 || r.FullBytes != 0 || r.MissingRequests != 0 {
		t.Fatalf("%+v", r)
	}
	var buf bytes.Buffer
	r.Table(&buf)
	if !strings.Contains(buf.String(), "--goal-only") || strings.Contains(buf.String(), "of whole") {
		t.Fatal(buf.String())
	}
}
