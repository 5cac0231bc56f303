package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/gossipchain/gossipchain/bench"
)

// Report is what a run found; written to OutDir/report.json.
type Report struct {
	Seed      uint64  `json:"seed"`
	Nodes     int     `json:"nodes"`
	Miners    int     `json:"miners"`
	Clients   int     `json:"clients"`
	FaultFrom float64 `json:"fault_phase_from_s"`
	FaultTo   float64 `json:"fault_phase_to_s"`

	Acked          int            `json:"txs_acknowledged"`
	AckedByKind    map[string]int `json:"acknowledged_by_kind"`
	Mined          int            `json:"acknowledged_mined_once"`
	Explained      int            `json:"acknowledged_lost_to_a_conflicting_spend"`
	Lost           int            `json:"lost"`
	Duplicated     int            `json:"duplicated"`
	LostIDs        []string       `json:"lost_ids,omitempty"`
	Explanations   []string       `json:"explanations,omitempty"`
	Refused        map[string]int `json:"client_refusals_by_kind"`
	FaultsInjected int            `json:"faults_injected"`
	FaultsByKind   map[string]int `json:"faults_by_kind"`
	Faults         []Fault        `json:"faults"`

	ConvergedS        float64  `json:"final_converge_and_drain_s"`
	LongestConvergeS  float64  `json:"longest_converge_after_a_fault_s"`
	LongestAfterFault string   `json:"longest_converge_fault,omitempty"`
	Heads             []string `json:"final_heads"`
	ChainLength       int      `json:"chain_length"`
	StoreChecks       []string `json:"store_checks"`
	LogProblems       []string `json:"log_problems,omitempty"`
	// Bans the nodes hold against each other at the end. Every node here
	// is honest, so each is a penalty that hit an honest peer; it fails
	// the check only through what it causes (a node left out).
	Bans     []string `json:"bans_between_nodes,omitempty"`
	Failures []string `json:"failures,omitempty"`
}

type chainJSON struct {
	Chain []struct {
		Index        uint64 `json:"index"`
		Hash         string `json:"hash"`
		Transactions []struct {
			ID     string `json:"id"`
			Sender string `json:"sender"`
			Nonce  uint64 `json:"nonce"`
		} `json:"transactions"`
	} `json:"chain"`
}

func (h *Harness) check(ctx context.Context, faultFrom, faultTo float64, conv interface{ Seconds() float64 }, convErr error) *Report {
	h.mu.Lock()
	acks := append([]Ack(nil), h.acks...)
	faults := append([]Fault(nil), h.faults...)
	refused := map[string]int{}
	for k, v := range h.refused {
		refused[k] = v
	}
	h.mu.Unlock()
	r := &Report{Seed: h.cfg.Seed, Nodes: h.cfg.Nodes, Miners: h.cfg.Miners, Clients: h.cfg.Clients,
		FaultFrom: faultFrom, FaultTo: faultTo, AckedByKind: map[string]int{}, FaultsByKind: map[string]int{},
		Refused: refused, Faults: faults, ConvergedS: conv.Seconds()}
	if convErr != nil {
		r.Failures = append(r.Failures, convErr.Error())
	}
	for _, f := range faults {
		r.FaultsByKind[f.Kind]++
	}
	r.FaultsInjected = len(faults)

	// Every node's head.
	heads := map[string]bool{}
	for _, p := range h.procs {
		st, err := p.status(ctx)
		if err != nil {
			r.Failures = append(r.Failures, fmt.Sprintf("node %d: %v", p.i, err))
			continue
		}
		r.Heads = append(r.Heads, fmt.Sprintf("node %d: %d %s", p.i, st.Index, st.Head))
		heads[st.Head] = true
	}
	if len(heads) != 1 {
		r.Failures = append(r.Failures, fmt.Sprintf("%d different heads at the end", len(heads)))
	}

	// The main chain, from node 1.
	var ch chainJSON
	if err := h.procs[0].get(ctx, "/chain", &ch); err != nil {
		r.Failures = append(r.Failures, fmt.Sprintf("GET /chain: %v", err))
	}
	r.ChainLength = len(ch.Chain)
	r.tally(acks, ch)
	if r.Lost > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("%d acknowledged txs lost", r.Lost))
	}
	if r.Duplicated > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("%d acknowledged txs mined more than once", r.Duplicated))
	}

	h.convergence(r)
	r.Bans = h.bans(ctx)

	// Stop the nodes cleanly, then check every store and log.
	for _, p := range h.procs {
		p.stop(syscall.SIGTERM)
	}
	for _, p := range h.procs {
		out, err := run(h.cfg.Bin, "store", "check", "--data-dir", p.dataDir())
		line := strings.TrimSpace(out)
		if i := strings.LastIndex(line, "\n"); i >= 0 {
			line = line[i+1:]
		}
		if err != nil {
			r.Failures = append(r.Failures, fmt.Sprintf("node %d: store check: %v", p.i, err))
			line = err.Error()
		}
		r.StoreChecks = append(r.StoreChecks, fmt.Sprintf("node %d: %s", p.i, line))
		for _, l := range scanLog(p.logPath()) {
			r.LogProblems = append(r.LogProblems, fmt.Sprintf("node %d: %s", p.i, l))
		}
	}
	if len(r.LogProblems) > 0 {
		r.Failures = append(r.Failures, fmt.Sprintf("%d crash lines in node logs", len(r.LogProblems)))
	}
	return r
}

// tally sorts every acknowledged id: mined exactly once, mined more than
// once, not mined but its sender's nonce went to another transaction (a
// conflicting spend won), or lost.
func (r *Report) tally(acks []Ack, ch chainJSON) {
	count := map[string]int{}
	byNonce := map[string]string{} // sender/nonce -> mined id
	for _, b := range ch.Chain {
		for _, tx := range b.Transactions {
			count[tx.ID]++
			byNonce[fmt.Sprintf("%s/%d", tx.Sender, tx.Nonce)] = tx.ID
		}
	}
	if r.AckedByKind == nil {
		r.AckedByKind = map[string]int{}
	}
	seen := map[string]bool{}
	for _, a := range acks {
		if seen[a.ID] {
			continue // acknowledged twice (a retry): one transaction
		}
		seen[a.ID] = true
		r.Acked++
		r.AckedByKind[a.Kind]++
		key := fmt.Sprintf("%s/%d", a.Sender, a.Nonce)
		switch n := count[a.ID]; {
		case n == 1:
			r.Mined++
		case n > 1:
			r.Duplicated++
		case a.Kind != "node-wallet" && byNonce[key] != "":
			r.Explained++
			r.Explanations = append(r.Explanations, fmt.Sprintf("%s (acked by node %d at %.1f s, %s): nonce %d of %.12s… went to %s",
				a.ID, a.Node, a.T, a.Kind, a.Nonce, a.Sender, byNonce[key]))
		case byNonce[key] != "":
			// The node signed both: its wallet reused the nonce of a
			// transfer it had acknowledged. That breaks the promise.
			r.Lost++
			r.LostIDs = append(r.LostIDs, fmt.Sprintf("%s (acked by node %d at %.1f s, %s, nonce %d): the node's wallet signed %s with the same nonce",
				a.ID, a.Node, a.T, a.Kind, a.Nonce, byNonce[key]))
		default:
			r.Lost++
			waits := ""
			if a.Waits {
				waits = ", acknowledged as waiting behind the wallet's parked transfers"
			}
			r.LostIDs = append(r.LostIDs, fmt.Sprintf("%s (acked by node %d at %.1f s, %s, nonce %d%s)", a.ID, a.Node, a.T, a.Kind, a.Nonce, waits))
		}
	}
}

// convergence: after each fault ends, the time until the first sample
// where every node answers with one head.
func (h *Harness) convergence(r *Report) {
	h.mu.Lock()
	samples := append([]Sample(nil), h.samples...)
	h.mu.Unlock()
	byT := map[float64][]Sample{}
	var ts []float64
	for _, s := range samples {
		// Samples of one round share a start within a few ms: bucket by 1 s.
		t := float64(int(s.T))
		if _, ok := byT[t]; !ok {
			ts = append(ts, t)
		}
		byT[t] = append(byT[t], s)
	}
	sort.Float64s(ts)
	agreed := func(t float64) bool {
		ss := byT[t]
		if len(ss) < h.cfg.Nodes {
			return false
		}
		head := ""
		for _, s := range ss {
			if !s.Up || (head != "" && s.Head != head) {
				return false
			}
			head = s.Head
		}
		return true
	}
	for _, f := range r.Faults {
		if f.To < 0 {
			continue
		}
		for _, t := range ts {
			if t >= f.To && agreed(t) {
				if d := t - f.To; d > r.LongestConvergeS {
					r.LongestConvergeS = d
					r.LongestAfterFault = fmt.Sprintf("%s %v ended at %.1f s", f.Kind, f.Nodes, f.To)
					// The wait may be another fault's: name those that
					// were still active or began before the heads agreed.
					var also []string
					last, still := f.To, 0
					for _, g := range r.Faults {
						if g.From < t && (g.To < 0 || g.To > f.To) && (g.From != f.From || g.Kind != f.Kind) {
							also = append(also, fmt.Sprintf("%s %v %.1f–%.1f s", g.Kind, g.Nodes, g.From, g.To))
							last = max(last, g.To)
							if g.To < 0 || g.To > t {
								still++
							}
						}
					}
					switch {
					case len(also) == 0:
					case still == 0:
						r.LongestAfterFault += fmt.Sprintf("; heads agreed at %.0f s, %.1f s after the last of the faults active meanwhile (%d) ended: %s",
							t, t-last, len(also), strings.Join(also, ", "))
					default:
						// They agreed under faults still on: name how many.
						r.LongestAfterFault += fmt.Sprintf("; heads agreed at %.0f s with %d of the %d faults active meanwhile still on (the last ended %.1f s later): %s",
							t, still, len(also), last-t, strings.Join(also, ", "))
					}
				}
				break
			}
		}
	}
}

func (r *Report) write(dir string, h *Harness) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), b, 0o644); err != nil {
		return err
	}
	h.mu.Lock()
	samples := append([]Sample(nil), h.samples...)
	acks := append([]Ack(nil), h.acks...)
	h.mu.Unlock()
	sb, _ := json.Marshal(samples)
	os.WriteFile(filepath.Join(dir, "samples.json"), sb, 0o644)
	ab, _ := json.MarshalIndent(acks, "", " ")
	os.WriteFile(filepath.Join(dir, "acks.json"), ab, 0o644) // every acknowledgement the clients got

	var spans []bench.TimelineSpan
	xMax := 0.0
	for _, s := range samples {
		xMax = max(xMax, s.T)
	}
	for _, f := range r.Faults {
		to := f.To
		if to < 0 {
			to = xMax
		}
		var ns []string
		for _, n := range f.Nodes {
			ns = append(ns, fmt.Sprint(n))
		}
		spans = append(spans, bench.TimelineSpan{Lane: f.Kind, Label: strings.Join(ns, ","), From: f.From, To: to})
	}
	heights := make([]bench.TimelineSeries, h.cfg.Nodes)
	pools := make([]bench.TimelineSeries, h.cfg.Nodes)
	for i := range heights {
		heights[i].Name = fmt.Sprintf("node %d", i+1)
		pools[i].Name = heights[i].Name
	}
	sort.Slice(samples, func(a, b int) bool { return samples[a].T < samples[b].T })
	for _, s := range samples {
		if !s.Up {
			continue
		}
		k := s.Node - 1
		heights[k].X = append(heights[k].X, s.T)
		heights[k].Y = append(heights[k].Y, float64(s.Index))
		pools[k].X = append(pools[k].X, s.T)
		pools[k].Y = append(pools[k].Y, float64(s.Mempool))
	}
	f, err := os.Create(filepath.Join(dir, "timeline.png"))
	if err != nil {
		return err
	}
	defer f.Close()
	return bench.WriteTimelinePNG(f, "seconds since the nodes started", xMax, spans, []bench.TimelinePanel{
		{Title: "head height per node (gaps: node down)", YLabel: "height", Series: heights},
		{Title: "mempool size per node", YLabel: "pending txs", Series: pools},
	})
}
