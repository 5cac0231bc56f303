// Package apitest holds HTTP-level checks of the API that are run both
// against an in-process node (package api's tests) and against the real
// binary (cmd/gossipchain's tests): the same requests, the same expected
// errors. It is for tests only.
package apitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/chain"
)

// Client is a minimal JSON client for tests.
var Client = &http.Client{Timeout: 2 * time.Minute}

// Call sends a request with body (a string or []byte is sent as is,
// anything else as JSON; nil for none) and returns the status and body.
func Call(t testing.TB, method, url string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := Client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp.StatusCode, data
}

// MustJSON calls and decodes a reply that must have the wanted status.
func MustJSON[T any](t testing.TB, want int, method, url string, body any) T {
	t.Helper()
	code, data := Call(t, method, url, body)
	if code != want {
		t.Fatalf("%s %s: status %d, want %d; body %s", method, url, code, want, data)
	}
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s %s: decoding %s: %v", method, url, data, err)
	}
	return v
}

// WantError checks an error reply: the status, a JSON body {"error": ...}
// and a case-insensitive substring of the message.
func WantError(t testing.TB, code int, data []byte, wantCode int, substr string) {
	t.Helper()
	if code != wantCode {
		t.Errorf("status %d, want %d; body %s", code, wantCode, data)
		return
	}
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(data, &e); err != nil || e.Error == "" {
		t.Errorf("error body %q is not {\"error\": ...} (%v)", data, err)
		return
	}
	if !strings.Contains(strings.ToLower(e.Error), strings.ToLower(substr)) {
		t.Errorf("error %q does not mention %q", e.Error, substr)
	}
}

// Wallet is a deterministic wallet for tests.
func Wallet(b byte) *chain.Wallet {
	var seed [32]byte
	seed[0] = b
	return chain.WalletFromSeed(seed)
}

// Case is one bad request and what its error must mention.
type Case struct {
	Name   string
	Body   any
	Substr string
}

// Status is the part of GET /status these checks read.
type Status struct {
	Address string     `json:"address"`
	Genesis chain.Hash `json:"genesis"`
	Index   uint64     `json:"index"`
}

// TxBadRequests posts every kind of bad /transactions/new to the node at
// base and checks each is a 400 that says what is wrong. It first mines
// twice and funds a second wallet with 20 coins through the API, so that
// transactions signed by that wallet fail for the reason each case means.
// The mempool is left empty.
func TxBadRequests(t *testing.T, base string) {
	url := base + "/transactions/new"
	st := MustJSON[Status](t, 200, "GET", base+"/status", nil)
	me := st.Address
	other := Wallet(200)
	to := Wallet(201).Address().String()
	MustJSON[map[string]any](t, 200, "GET", base+"/mine", nil)
	MustJSON[map[string]any](t, 201, "POST", url, fmt.Sprintf(`{"recipient":%q,"amount":20}`, other.Address()))
	MustJSON[map[string]any](t, 200, "GET", base+"/mine", nil)
	nonce := MustJSON[struct {
		Nonce uint64 `json:"nonce"`
	}](t, 200, "GET", base+"/balance/"+other.Address().String(), nil).Nonce

	signed := func(amount, fee, nonce uint64) map[string]any {
		j := other.NewTx(st.Genesis, Wallet(201).Address(), amount, fee, nonce).JSON()
		return map[string]any{"sender": j.Sender, "recipient": j.Recipient, "amount": j.Amount, "fee": j.Fee, "nonce": j.Nonce, "signature": j.Signature}
	}
	tampered := signed(5, 0, nonce)
	tampered["amount"] = 6
	badSig := signed(5, 0, nonce)
	badSig["signature"] = strings.Repeat("ab", 64)
	shortSig := signed(5, 0, nonce)
	shortSig["signature"] = "abcd"
	noNonce := signed(5, 0, nonce)
	delete(noNonce, "nonce")
	badID := signed(5, 0, nonce)
	badID["id"] = strings.Repeat("00", 32)

	cases := []Case{
		{"empty body", "", "empty body"},
		{"bad JSON", `{"recipient":`, "bad JSON"},
		{"not an object", `[1,2]`, "bad JSON"},
		{"trailing data", fmt.Sprintf(`{"recipient":%q,"amount":1} {}`, to), "after the object"},
		{"null", `null`, "missing"},
		{"missing recipient", `{"amount":5}`, "recipient"},
		{"missing amount", fmt.Sprintf(`{"recipient":%q}`, to), "amount"},
		{"missing both", `{}`, "recipient, amount"},
		{"null amount", fmt.Sprintf(`{"recipient":%q,"amount":null}`, to), "amount"},
		{"empty recipient", `{"recipient":"","amount":5}`, "recipient"},
		{"zero amount", fmt.Sprintf(`{"recipient":%q,"amount":0}`, to), "positive"},
		{"negative amount", fmt.Sprintf(`{"recipient":%q,"amount":-3}`, to), "positive"},
		{"fractional amount", fmt.Sprintf(`{"recipient":%q,"amount":1.5}`, to), "whole number"},
		{"exponent amount", fmt.Sprintf(`{"recipient":%q,"amount":1e3}`, to), "whole number"},
		{"string amount", fmt.Sprintf(`{"recipient":%q,"amount":"10"}`, to), "not a string"},
		{"bool amount", fmt.Sprintf(`{"recipient":%q,"amount":true}`, to), "integer"},
		{"huge amount", fmt.Sprintf(`{"recipient":%q,"amount":18446744073709551616}`, to), "too large"},
		{"amount plus fee overflows", fmt.Sprintf(`{"recipient":%q,"amount":18446744073709551615,"fee":1}`, to), "overflow"},
		{"negative fee", fmt.Sprintf(`{"recipient":%q,"amount":1,"fee":-1}`, to), "fee"},
		{"fractional fee", fmt.Sprintf(`{"recipient":%q,"amount":1,"fee":0.5}`, to), "fee"},
		{"string fee", fmt.Sprintf(`{"recipient":%q,"amount":1,"fee":"1"}`, to), "fee"},
		{"recipient not hex", `{"recipient":"someone-other-address","amount":5}`, "address"},
		{"recipient is coinbase", `{"recipient":"0","amount":5}`, "address"},
		{"recipient not a string", `{"recipient":5,"amount":5}`, "recipient"},
		{"tutorial's sender", fmt.Sprintf(`{"sender":"d4ee26eee15148ee92c6cd394edd974e","recipient":%q,"amount":5}`, to), "address"},
		{"another sender, unsigned", fmt.Sprintf(`{"sender":%q,"recipient":%q,"amount":5}`, other.Address(), to), "signed"},
		{"coinbase sender, unsigned", fmt.Sprintf(`{"sender":"0","recipient":%q,"amount":5}`, to), "signed"},
		{"insufficient funds", fmt.Sprintf(`{"sender":%q,"recipient":%q,"amount":1000000000}`, me, to), "insufficient"},
		{"signed, insufficient funds", signed(21, 0, nonce), "insufficient"},
		{"signed, wrong nonce", signed(5, 0, nonce+7), "nonce"},
		{"signed, no nonce", noNonce, "nonce"},
		{"signed, tampered amount", tampered, "signature"},
		{"signed, bad signature", badSig, "signature"},
		{"signed, short signature", shortSig, "signature"},
		{"signed, wrong id", badID, "id"},
		{"unknown field", fmt.Sprintf(`{"recipient":%q,"amount":1,"fees":5}`, to), `unknown field "fees"`},
		{"signed, unknown field", map[string]any{"sender": other.Address().String(), "recipient": to, "amount": 5, "nonce": nonce, "signature": strings.Repeat("ab", 64), "timestamp": 1}, `unknown field "timestamp"`},
		{"signed, no sender", map[string]any{"recipient": to, "amount": 5, "nonce": 0, "signature": strings.Repeat("ab", 64)}, "sender"},
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			code, data := Call(t, "POST", url, c.Body)
			WantError(t, code, data, 400, c.Substr)
		})
	}
	pending := MustJSON[struct {
		Count int `json:"count"`
	}](t, 200, "GET", base+"/transactions/pending", nil)
	if pending.Count != 0 {
		t.Errorf("the mempool holds %d transactions after only bad requests", pending.Count)
	}
}

// MaxRegisterNodes mirrors the API's cap on one /nodes/register request.
const MaxRegisterNodes = 64

// RegisterBadRequests posts every kind of bad /nodes/register to the node
// at base and checks each is a 400 that says what is wrong. peerID is any
// valid peer ID (for well-formed multiaddrs with a bad part).
func RegisterBadRequests(t *testing.T, base, peerID string) {
	url := base + "/nodes/register"
	tooMany := make([]string, MaxRegisterNodes+1)
	for i := range tooMany {
		tooMany[i] = "127.0.0.1:5000"
	}
	cases := []Case{
		{"empty body", "", "empty body"},
		{"bad JSON", `{"nodes":[`, "bad JSON"},
		{"missing nodes", `{}`, "valid list of nodes"},
		{"null nodes", `{"nodes":null}`, "valid list of nodes"},
		{"empty list", `{"nodes":[]}`, "empty"},
		{"not a list", `{"nodes":"/ip4/127.0.0.1/tcp/4001"}`, "nodes"},
		{"not strings", `{"nodes":[1]}`, "nodes"},
		{"empty entry", `{"nodes":[""]}`, "nodes[0]"},
		{"garbage", `{"nodes":["not a node"]}`, "neither"},
		{"multiaddr without peer id", `{"nodes":["/ip4/127.0.0.1/tcp/4001"]}`, "p2p"},
		{"bad multiaddr", `{"nodes":["/ip4/999.0.0.1/tcp/4001/p2p/` + peerID + `"]}`, "multiaddr"},
		{"bad peer id", `{"nodes":["/ip4/127.0.0.1/tcp/4001/p2p/notapeer"]}`, "multiaddr"},
		{"no transport", `{"nodes":["/ip4/127.0.0.1/p2p/` + peerID + `"]}`, "transport"},
		{"unsupported scheme", `{"nodes":["ftp://127.0.0.1:5000"]}`, "neither"},
		{"host without port", `{"nodes":["localhost"]}`, "neither"},
		{"bad port", `{"nodes":["127.0.0.1:99999"]}`, "port"},
		{"second entry bad", `{"nodes":["127.0.0.1:5000","/dns4/x"]}`, "nodes[1]"},
		{"too many", map[string]any{"nodes": tooMany}, "too many"},
		{"unknown field", `{"nodes":["127.0.0.1:5000"],"node":"x"}`, `unknown field "node"`},
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			code, data := Call(t, "POST", url, c.Body)
			WantError(t, code, data, 400, c.Substr)
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		// Well-formed but nobody there yet: stored, as the tutorial does
		// (201), and kept as bootstrap peers dialled with backoff.
		closed := ClosedPort(t)
		peerID := "12D3KooWQaLpHhbFoTgLwcqeo5WkFdLSKByEf91XJ2QjWSwuA1pW" // another node's
		ma := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", closed, peerID)
		u := fmt.Sprintf("http://127.0.0.1:%d", closed)
		code, data := Call(t, "POST", url, map[string]any{"nodes": []string{ma, u}})
		if code != 201 || !strings.Contains(string(data), "keeps dialling") {
			t.Fatalf("register of nodes not up yet: %d %s, want 201 saying it keeps dialling them", code, data)
		}
		var r struct {
			Pending []struct {
				Node string `json:"node"`
			} `json:"pending"`
		}
		if err := json.Unmarshal(data, &r); err != nil || len(r.Pending) != 2 || r.Pending[0].Node != ma || r.Pending[1].Node != u {
			t.Errorf("reply does not list both as pending: %s", data)
		}
		if strings.Contains(string(data), `\u003c`) {
			t.Errorf("reply escapes < and >: %s", data)
		}
		var st struct {
			Bootstrap []struct {
				Peer   string `json:"peer"`
				Source string `json:"source"`
			} `json:"bootstrap"`
		}
		MustJSON[map[string]any](t, 200, "GET", base+"/status", nil)
		code, data = Call(t, "GET", base+"/status", nil)
		if err := json.Unmarshal(data, &st); err != nil || code != 200 {
			t.Fatalf("status: %d %s", code, data)
		}
		found := false
		for _, b := range st.Bootstrap {
			found = found || (b.Peer == peerID && b.Source == "/nodes/register")
		}
		if !found {
			t.Errorf("GET /status \"bootstrap\" does not list the registered peer %s: %s", peerID, data)
		}
	})
	t.Run("itself", func(t *testing.T) {
		code, data := Call(t, "POST", url, map[string]any{"nodes": []string{base}})
		WantError(t, code, data, 502, "this node")
	})
}

// ClosedPort returns a loopback TCP port nothing listens on.
func ClosedPort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}
