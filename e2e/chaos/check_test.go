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
