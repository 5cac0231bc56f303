// Package client is a typed Go client for a gossipchain node's HTTP JSON API
// (package api): status, balances, submitting signed transactions, blocks
// and the mempool. Errors carry the API's {"error"} message and status code
// (*APIError), or say which URL could not be reached (*UnreachableError).
//
// Keys never go to the node: sign with chain.Wallet.NewTx (the network is
// Status().Genesis) and submit the result with SubmitTx.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gossipchain/gossipchain/chain"
)

// DefaultURL is the node's default API address (its --http default).
const DefaultURL = "http://127.0.0.1:5000"

// maxReply caps a reply body: a full block of 4000 transactions is about
// 2 MB of JSON.
const maxReply = 16 << 20

// Client talks to one node. The zero value is not usable: use New.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// Option configures a Client.
type Option func(*Client)

// WithToken sends "Authorization: Bearer <token>" on every request (a node
// listening on a public address, or started with --http-token, needs it).
// An empty token sends nothing.
func WithToken(token string) Option { return func(c *Client) { c.token = strings.TrimSpace(token) } }

// WithHTTPClient replaces the default HTTP client (30 s timeout).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// New returns a client for the node at rawURL: "http://host:port",
// "https://…", or a bare "host:port" (taken as http). An unspecified host
// (":5000", "0.0.0.0:5000") means this machine.
func New(rawURL string, opts ...Option) (*Client, error) {
	u, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	c := &Client{base: u, http: &http.Client{Timeout: 30 * time.Second}}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// ParseURL reads a node's API address as New does.
func ParseURL(raw string) (*url.URL, error) {
	s := strings.TrimSpace(raw)
	if s == "" {
		return nil, errors.New("empty node URL: want http://host:port")
	}
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("node URL %q: want http://host:port", raw)
	}
	switch u.Hostname() {
	case "", "0.0.0.0":
		u.Host = "127.0.0.1:" + u.Port()
	case "::":
		u.Host = "[::1]:" + u.Port()
	}
	if u.Port() == "" && !strings.Contains(raw, "://") {
		return nil, fmt.Errorf("node URL %q: want http://host:port", raw)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawQuery, u.Fragment = "", ""
	return u, nil
}

// URL is the node's base URL.
func (c *Client) URL() string { return c.base.String() }

// APIError is an error reply of the API: its status code and its
// {"error"} message.
type APIError struct {
	Method, URL string
	StatusCode  int
	Message     string
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.URL, e.StatusCode, http.StatusText(e.StatusCode), e.Message)
	if e.StatusCode == http.StatusUnauthorized {
		msg += " (give the node's API token with --token or GOSSIPCHAIN_HTTP_TOKEN)"
	}
	return msg
}

// IsStatus reports whether err is an API reply with the given status code.
func IsStatus(err error, code int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.StatusCode == code
}

// UnreachableError is a request that got no HTTP reply at all.
type UnreachableError struct {
	URL string // the node's base URL
	Err error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach a node at %s (%v): is a node running there with its HTTP API on (--http)?", e.URL, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// do sends a request and decodes a 2xx reply into out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	u := c.base.String() + path
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &UnreachableError{URL: c.base.String(), Err: unwrapURLError(err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxReply+1))
	if err != nil {
		return &UnreachableError{URL: c.base.String(), Err: fmt.Errorf("reading the reply: %w", err)}
	}
	if len(data) > maxReply {
		return fmt.Errorf("%s %s: reply over %d bytes", method, u, maxReply)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		ae := &APIError{Method: method, URL: u, StatusCode: resp.StatusCode}
		var eb struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &eb) == nil && eb.Error != "" {
			ae.Message = eb.Error
		} else {
			ae.Message = strings.TrimSpace(string(data))
			if len(ae.Message) > 200 {
				ae.Message = ae.Message[:200] + "…"
			}
			if ae.Message == "" {
				ae.Message = "(no body)"
			}
		}
		return ae
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: the reply is not the JSON expected (is this a gossipchain node?): %v", method, u, err)
	}
	return nil
}

// unwrapURLError drops *url.Error's "Get "…": " prefix: the URL is said
// once, by UnreachableError.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Status is GET /status.
type Status struct {
	PeerID          string   `json:"peer_id"`
	Addrs           []string `json:"addrs"`
	Address         string   `json:"address"` // the node's wallet
	Index           uint64   `json:"index"`
	Head            string   `json:"head"`
	Peers           int      `json:"peers"`
	Mempool         int      `json:"mempool"`
	Difficulty      uint32   `json:"difficulty"`
	LeadingZeroBits int      `json:"leading_zero_bits"`
	Mining          bool     `json:"mining"`
	HashRate        float64  `json:"hashrate"`
	Genesis         string   `json:"genesis"` // the network id signatures commit to
	Network         string   `json:"network"`
	Work            string   `json:"work"`
}

// Status asks the node for its status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var s Status
	if err := c.do(ctx, http.MethodGet, "/status", nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Network is the node's network id (its genesis hash), what a transaction
// must be signed for.
func (c *Client) Network(ctx context.Context) (chain.Hash, error) {
	s, err := c.Status(ctx)
	if err != nil {
		return chain.Hash{}, err
	}
	h, err := chain.ParseHash(s.Genesis)
	if err != nil {
		return chain.Hash{}, fmt.Errorf("%s/status: genesis %q: %v", c.URL(), s.Genesis, err)
	}
	return h, nil
}

// Balance is GET /balance/{address}. Nonce is the next transaction's
// nonce, counting the sender's pending transactions.
type Balance struct {
	Address string `json:"address"`
	Balance uint64 `json:"balance"`
	Nonce   uint64 `json:"nonce"`
}

// Balance asks for an address's balance and next nonce.
func (c *Client) Balance(ctx context.Context, a chain.Address) (*Balance, error) {
	var b Balance
	if err := c.do(ctx, http.MethodGet, "/balance/"+a.String(), nil, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// SubmitReply is the reply of POST /transactions/new.
type SubmitReply struct {
	Message string `json:"message"`
	ID      string `json:"id"`
}

// SubmitTx posts a signed transaction to /transactions/new.
func (c *Client) SubmitTx(ctx context.Context, tx *chain.Tx) (*SubmitReply, error) {
	return c.SubmitTxJSON(ctx, SignedTx(tx))
}

// SubmitTxJSON posts a signed transaction in its JSON form.
func (c *Client) SubmitTxJSON(ctx context.Context, j chain.TxJSON) (*SubmitReply, error) {
	var r SubmitReply
	if err := c.do(ctx, http.MethodPost, "/transactions/new", j, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// SignedTx is tx as POST /transactions/new accepts a transaction signed
// elsewhere: sender, recipient, amount, fee, nonce, signature and id.
func SignedTx(tx *chain.Tx) chain.TxJSON { return tx.JSON() }

// Block is GET /blocks/{id}: a block and whether it is on the main chain.
type Block struct {
	chain.BlockJSON
	MainChain bool `json:"main_chain"`
}

// Block fetches the main-chain block at index.
func (c *Client) Block(ctx context.Context, index uint64) (*Block, error) {
	return c.block(ctx, strconv.FormatUint(index, 10))
}

// BlockByHash fetches a block by hash, on the main chain or not.
func (c *Client) BlockByHash(ctx context.Context, h chain.Hash) (*Block, error) {
	return c.block(ctx, h.String())
}

func (c *Client) block(ctx context.Context, id string) (*Block, error) {
	var b Block
	if err := c.do(ctx, http.MethodGet, "/blocks/"+id, nil, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// Pending is GET /transactions/pending: the mempool, best fee first.
func (c *Client) Pending(ctx context.Context) ([]chain.TxJSON, error) {
	var p struct {
		Transactions []chain.TxJSON `json:"transactions"`
	}
	if err := c.do(ctx, http.MethodGet, "/transactions/pending", nil, &p); err != nil {
		return nil, err
	}
	return p.Transactions, nil
}

// ErrNotConfirmed is returned by WaitTx when ctx ends first.
var ErrNotConfirmed = errors.New("transaction not in a main-chain block yet")

// WaitTx polls the node every poll interval until the transaction id is in
// a main-chain block, and returns that block. after is a main-chain index
// the transaction cannot be at or below (the head index before it was
// submitted; 0 to look from the genesis). The last few blocks are looked
// at again on every poll, so a short reorg that moves the transaction is
// followed. It ends with ErrNotConfirmed (wrapping ctx's error) when ctx
// is done first.
func (c *Client) WaitTx(ctx context.Context, id chain.Hash, after uint64, poll time.Duration) (*Block, error) {
	if poll <= 0 {
		poll = 250 * time.Millisecond
	}
	const recheck = 6
	want := id.String()
	next := after + 1 // the lowest index not yet looked at
	for {
		s, err := c.Status(ctx)
		if err != nil {
			return nil, waitErr(ctx, err)
		}
		lo := next
		if lo > after+recheck {
			lo -= recheck
		} else {
			lo = after + 1
		}
		for i := lo; i <= s.Index; i++ {
			b, err := c.Block(ctx, i)
			if IsStatus(err, http.StatusNotFound) {
				break // the chain got shorter since /status
			}
			if err != nil {
				return nil, waitErr(ctx, err)
			}
			for _, tx := range b.Transactions {
				if strings.EqualFold(tx.ID, want) {
					return b, nil
				}
			}
			next = max(next, i+1)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrNotConfirmed, ctx.Err())
		case <-time.After(poll):
		}
	}
}

func waitErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %w", ErrNotConfirmed, ctx.Err())
	}
	return err
}
