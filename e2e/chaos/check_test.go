package chaos

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestTally(t *testing.T) {
	var ch chainJSON
	if err := json.Unmarshal([]byte(`{"chain":[
		{"index":1,"hash":"g","transactions":[]},
		{"index":2,"hash":"a","transactions":[{"id":"t1","sender":"s","nonce":0},{"id":"t2","sender":"s","nonce":1}]},
		{"index":3,"hash":"b","transactions":[{"id":"t2","sender":"s","nonce":1},{"id":"w1","sender":"node","nonce":0}]}
	]}`), &ch); err != nil {
		t.Fatal(err)
	}
	acks := []Ack{
		{ID: "t1", Sender: "s", Nonce: 0, Kind: "signed"},
		{ID: "t1", Sender: "s", Nonce: 0, Kind: "signed"},   // a retry acknowledged again: one tx
		{ID: "t2", Sender: "s", Nonce: 1, Kind: "signed"},   // twice on the chain
		{ID: "c1", Sender: "s", Nonce: 0, Kind: "conflict"}, // nonce 0 went to t1
		{ID: "x", Sender: "s", Nonce: 2, Kind: "signed"},    // nowhere
		{ID: "w1", Sender: "node", Kind: "node-wallet"},
		{ID: "w2", Sender: "node", Nonce: 0, Kind: "node-wallet"}, // the node's own wallet reused nonce 0: lost
	}
	var r Report
	r.tally(acks, ch)
	if r.Acked != 6 || r.Mined != 2 || r.Duplicated != 1 || r.Explained != 1 || r.Lost != 2 {
		t.Fatalf("acked %d mined %d duplicated %d explained %d lost %d; want 6 2 1 1 2", r.Acked, r.Mined, r.Duplicated, r.Explained, r.Lost)
	}
	if len(r.LostIDs) != 2 || !strings.Contains(r.LostIDs[1], "signed w1 with the same nonce") {
		t.Fatalf("lost: %q", r.LostIDs)
	}
}

// The longest wait for one head after a fault names the faults that were
// active during it too: with faults overlapping, the one that ended first
// is seldom the cause.
func TestConvergenceNamesOverlappingFaults(t *testing.T) {
	h := &Harness{cfg: Config{Nodes: 2}}
	for sec := 0; sec <= 30; sec++ {
		head := "same"
		if sec >= 5 && sec < 25 { // a fork from 5 s until 25 s
			head = "fork"
		}
		h.samples = append(h.samples,
			Sample{T: float64(sec), Node: 1, Up: true, Head: "same"},
			Sample{T: float64(sec), Node: 2, Up: true, Head: head})
	}
	r := &Report{Faults: []Fault{
		{Kind: "kill", Nodes: []int{1}, From: 4, To: 8},
		{Kind: "clock-skew", Nodes: []int{2}, From: 6, To: 24},
	}}
	h.convergence(r)
	if r.LongestConvergeS != 17 {
		t.Fatalf("longest %v s, want 17 (the kill ended at 8 s, the heads agreed at 25 s)", r.LongestConvergeS)
	}
	if !strings.Contains(r.LongestAfterFault, "kill [1] ended at 8.0 s") || !strings.Contains(r.LongestAfterFault, "1.0 s after the last of the faults active meanwhile (1) ended") ||
		!strings.Contains(r.LongestAfterFault, "clock-skew [2] 6.0–24.0 s") {
		t.Fatalf("attribution %q: want the kill and the clock skew active until 24 s", r.LongestAfterFault)
	}

	// A fault that outlasts the agreement is named as still on, not as
	// having ended a negative time before it.
	r = &Report{Faults: []Fault{
		{Kind: "kill", Nodes: []int{1}, From: 4, To: 8},
		{Kind: "clock-skew", Nodes: []int{2}, From: 6, To: 24},
		{Kind: "delay-loss", Nodes: []int{1}, From: 20, To: 28},
	}}
	h.convergence(r)
	if !strings.Contains(r.LongestAfterFault, "heads agreed at 25 s with 1 of the 2 faults active meanwhile still on (the last ended 3.0 s later)") ||
		!strings.Contains(r.LongestAfterFault, "delay-loss [1] 20.0–28.0 s") {
		t.Fatalf("attribution %q: want the delay-loss named as still on at 25 s", r.LongestAfterFault)
	}
}
