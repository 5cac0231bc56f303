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
