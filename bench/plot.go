package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// PlotOptions say what Plot measures and where it writes.
type PlotOptions struct {
	OutDir  string // default "docs"
	Sizes   []int  // network sizes; default 5, 10, 20, 35, 50
	Lengths []int  // chain lengths; default 1,000, 2,000, 5,000, 10,000
}

// PlotResult is the data behind the plots.
type PlotResult struct {
	Mode        string               `json:"mode"` // "plot"
	Machine     Machine              `json:"machine"`
	Propagation []*PropagationResult `json:"propagation"`
	Sync        []*SyncResult        `json:"sync"`
	Files       []string             `json:"files"`
}

// Plot measures propagation for each network size and sync (both ways,
// Options.TxsPerBlock txs per block) for each chain length, and writes
// propagation.png, sync.png and plot-data.json into OutDir.
func Plot(ctx context.Context, o Options, po PlotOptions) (*PlotResult, error) {
	o.setDefaults()
	if po.OutDir == "" {
		po.OutDir = "docs"
	}
	if len(po.Sizes) == 0 {
		po.Sizes = []int{5, 10, 20, 35, 50}
	}
	if len(po.Lengths) == 0 {
		po.Lengths = []int{1000, 2000, 5000, 10000}
	}
	if err := os.MkdirAll(po.OutDir, 0o755); err != nil {
		return nil, err
	}
	r := &PlotResult{Mode: "plot", Machine: ThisMachine()}
	for _, n := range po.Sizes {
		on := o
		on.Nodes = n
		p, err := Propagation(ctx, on)
		if err != nil {
			return nil, fmt.Errorf("propagation with %d nodes: %w", n, err)
		}
		r.Propagation = append(r.Propagation, p)
	}
	for _, k := range po.Lengths {
		ok := o
		ok.Blocks = k
		s, err := Sync(ctx, ok)
		if err != nil {
			return nil, fmt.Errorf("sync of %d blocks: %w", k, err)
		}
		r.Sync = append(r.Sync, s)
	}
	if err := r.write(po.OutDir); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *PlotResult) write(dir string) error {
	prop := &chart{
		title:  fmt.Sprintf("Block and transaction to every node: %d samples per size, in-process nodes on loopback", sampleCount(r.Propagation)),
		xLabel: "nodes",
		yLabel: "milliseconds",
	}
	var bp50, bp95, tp50, tp95 series
	bp50 = series{name: "block p50", colour: palette[0]}
	bp95 = series{name: "block p95", colour: palette[1]}
	tp50 = series{name: "tx p50", colour: palette[2]}
	tp95 = series{name: "tx p95", colour: palette[3]}
	for _, p := range r.Propagation {
		x := float64(p.Nodes)
		prop.xTicks = append(prop.xTicks, x)
		bp50.xs, bp50.ys = append(bp50.xs, x), append(bp50.ys, p.BlockP50)
		bp95.xs, bp95.ys = append(bp95.xs, x), append(bp95.ys, p.BlockP95)
		tp50.xs, tp50.ys = append(tp50.xs, x), append(tp50.ys, p.TxP50)
		tp95.xs, tp95.ys = append(tp95.xs, x), append(tp95.ys, p.TxP95)
	}
	prop.series = []series{bp50, bp95, tp50, tp95}

	txs := 0
	if len(r.Sync) > 0 {
		txs = r.Sync[0].TxsPerBlock
	}
	syn := &chart{
		title:     fmt.Sprintf("Sync of a fresh node from one peer, %d signed txs per block", txs),
		xLabel:    "chain length (blocks)",
		yLabel:    "seconds",
		xFromZero: true,
	}
	loc := series{name: "locator batches (SyncFrom)", colour: palette[0]}
	whole := series{name: "whole chain (SyncWholeChain)", colour: palette[1]}
	for _, s := range r.Sync {
		x := float64(s.Blocks)
		syn.xTicks = append(syn.xTicks, x)
		loc.xs, loc.ys = append(loc.xs, x), append(loc.ys, s.Seconds)
		if s.WholeChain != nil {
			whole.xs, whole.ys = append(whole.xs, x), append(whole.ys, s.WholeChain.Seconds)
		}
	}
	syn.series = []series{loc}
	if len(whole.xs) > 0 {
		syn.series = append(syn.series, whole)
	}

	r.Files = nil
	for name, c := range map[string]*chart{"propagation.png": prop, "sync.png": syn} {
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		err = c.writePNG(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		r.Files = append(r.Files, path)
	}
	b, _ := json.MarshalIndent(r, "", "  ")
	path := filepath.Join(dir, "plot-data.json")
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return err
	}
	r.Files = append(r.Files, path)
	return nil
}

func sampleCount(ps []*PropagationResult) int {
	if len(ps) == 0 {
		return 0
	}
	return ps[0].Samples
}

// Table implements Result.
func (r *PlotResult) Table(w io.Writer) {
	t := newTable("plot", r.Machine.LoadAvg1)
	for _, p := range r.Propagation {
		t.row(fmt.Sprintf("propagation, %d nodes: block p50/p95, tx p50/p95", p.Nodes),
			fmt.Sprintf("%.1f / %.1f ms, %.1f / %.1f ms", p.BlockP50, p.BlockP95, p.TxP50, p.TxP95), "", "")
	}
	for _, s := range r.Sync {
		v := fmt.Sprintf("%.2f s", s.Seconds)
		if s.WholeChain != nil {
			v += fmt.Sprintf(" (whole chain %.2f s)", s.WholeChain.Seconds)
		}
		t.row(fmt.Sprintf("sync, %d blocks × %d txs", s.Blocks, s.TxsPerBlock), v, "", "")
	}
	for _, f := range r.Files {
		t.note("wrote %s", f)
	}
	t.write(w)
}
