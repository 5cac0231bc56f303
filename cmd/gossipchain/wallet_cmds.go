package main

// The wallet and client commands (issue 10): key files, balances, and
// transfers signed on this machine and submitted to a node's HTTP API.
//
//	gossipchain wallet                         the node's wallet (./gossipchain-data), created if missing
//	gossipchain wallet new [--out FILE]        a new key file (0600; never over an existing file)
//	gossipchain wallet show [--wallet FILE | --data-dir DIR]
//	gossipchain wallet balance [--wallet FILE] [--node URL]
//	gossipchain send --to ADDR --amount N [--fee F] [--wallet FILE] [--node URL] [--wait [--timeout D]]
//	gossipchain tx sign --to ADDR --amount N --nonce N [--fee F] [--wallet FILE]
//	                    (--network GENESIS_HEX | --difficulty BITS | --node URL)
//
// Every flag can also be set as GOSSIPCHAIN_<FLAG>. Keys never leave this
// machine: only signed transactions are sent.

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	"github.com/gossipchain/gossipchain/client"
	"github.com/gossipchain/gossipchain/node"
	"github.com/gossipchain/gossipchain/wallet"
)

// cookieFile is the file in a node's data directory that holds its API
// token (written by the node; see api.CookieFile on the API-hardening
// branch). It is read only for a node on this machine's loopback.
const cookieFile = ".cookie"

// tokenEnv is the node's own variable for its API token; the client
// commands read it too, so one variable serves both.
const tokenEnv = "GOSSIPCHAIN_HTTP_TOKEN"

const walletUsage = `Usage: gossipchain wallet [--data-dir D]     show the node's wallet address, creating its key if missing
       gossipchain wallet new [--out FILE]      make a new key file (0600; never over an existing file)
       gossipchain wallet show [--wallet FILE | --data-dir D]   print a key file's address
       gossipchain wallet balance [--wallet FILE] [--node URL]  ask a node for its balance and next nonce

Run 'gossipchain wallet new -h' (show, balance) for the flags. Every flag can
also be set as GOSSIPCHAIN_<FLAG> (--wallet is GOSSIPCHAIN_WALLET).
`

// runWalletCmd dispatches `gossipchain wallet ...`. Without a subcommand
// it is the original `gossipchain wallet [--data-dir D]`.
func runWalletCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		return runWallet(args, getenv, stdout, stderr)
	}
	switch args[0] {
	case "new":
		return runWalletNew(args[1:], getenv, stdout, stderr)
	case "show":
		return runWalletShow(args[1:], getenv, stdout, stderr)
	case "balance":
		return runWalletBalance(args[1:], getenv, stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, walletUsage)
		return 0
	}
	if strings.HasPrefix(args[0], "-") {
		return runWallet(args, getenv, stdout, stderr)
	}
	return subExit("wallet", usageErrorf("unknown wallet command %q: want new, show or balance", args[0]), stderr)
}

// subExit prints a subcommand's error and returns its exit code: 2 for a
// command-line mistake, 1 for anything else, 0 for -h.
func subExit(name string, err error, stderr io.Writer) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case isUsage(err):
		fmt.Fprintf(stderr, "gossipchain %s: %v\n", name, err)
		fmt.Fprintf(stderr, "Run 'gossipchain %s -h' for its flags.\n", name)
		return 2
	default:
		fmt.Fprintf(stderr, "gossipchain %s: %v\n", name, err)
		return 1
	}
}

// parsed is what parseCmd learnt besides the flag values.
type parsed struct {
	onCmdLine, fromEnv map[string]bool
}

func (p parsed) given(name string) bool { return p.onCmdLine[name] || p.fromEnv[name] }

// parseCmd parses flags, then GOSSIPCHAIN_* variables for the flags not given.
func parseCmd(fs *flag.FlagSet, args []string, getenv func(string) string, help io.Writer) (parsed, error) {
	if err := parseFlags(fs, args, help); err != nil {
		return parsed{}, err
	}
	if fs.NArg() > 0 {
		return parsed{}, usageErrorf("unexpected argument %q", fs.Arg(0))
	}
	p := parsed{onCmdLine: map[string]bool{}}
	fs.Visit(func(f *flag.Flag) { p.onCmdLine[f.Name] = true })
	var err error
	p.fromEnv, err = applyEnv(fs, getenv)
	return p, err
}

// keyFlags are --wallet and --data-dir: which key file to use.
type keyFlags struct {
	wallet, dataDir string
}

func (k *keyFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&k.wallet, "wallet", "", "key file (default: the node's, DATA_DIR/"+node.WalletFile+")")
	fs.StringVar(&k.dataDir, "data-dir", wallet.DefaultDataDir, "the node's data directory: its wallet key, and its API token file "+cookieFile)
}

func (k *keyFlags) path() string {
	if k.wallet != "" {
		return k.wallet
	}
	return filepath.Join(k.dataDir, node.WalletFile)
}

func (k *keyFlags) load() (*chain.Wallet, error) { return wallet.Load(k.path()) }

// nodeFlags are --node and --token: which API to ask, with what token.
type nodeFlags struct {
	url, token string
}

func (n *nodeFlags) register(fs *flag.FlagSet, def string) {
	fs.StringVar(&n.url, "node", def, "the node's HTTP API, http://host:port (the node must run with --http)")
	fs.StringVar(&n.token, "token", "", "the node's API bearer token (also "+tokenEnv+"; default: DATA_DIR/"+cookieFile+" for a node on loopback)")
}

// client makes the API client. The token is --token, else
// GOSSIPCHAIN_HTTP_TOKEN, else the cookie file in dataDir — the last only
// for a node on loopback, so a local token is never sent elsewhere.
func (n *nodeFlags) client(getenv func(string) string, dataDir string) (*client.Client, error) {
	u, err := client.ParseURL(n.url)
	if err != nil {
		return nil, usageErrorf("--node: %v", err)
	}
	tok := n.token
	if tok == "" {
		tok = getenv(tokenEnv)
	}
	if tok == "" && isLoopback(u.Hostname()) && dataDir != "" {
		if data, err := os.ReadFile(filepath.Join(dataDir, cookieFile)); err == nil {
			tok = strings.TrimSpace(string(data))
		}
	}
	return client.New(u.String(), client.WithToken(tok))
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// coinFlag is a whole number of coins (base 10 only).
type coinFlag struct {
	v   uint64
	set bool
}

func (c *coinFlag) String() string {
	if c == nil || !c.set {
		return ""
	}
	return strconv.FormatUint(c.v, 10)
}

func (c *coinFlag) Set(s string) error {
	v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return errors.New("want a whole number")
	}
	c.v, c.set = v, true
	return nil
}

// parseRecipient reads --to: 64 hex characters of a key that can own coins.
func parseRecipient(s string) (chain.Address, error) {
	if s == "" {
		return chain.Address{}, usageErrorf("--to is missing: the recipient's address (64 hex characters; get one with `gossipchain wallet show`)")
	}
	a, err := chain.ParseAddress(s)
	if err != nil || a == chain.CoinbaseSender {
		return a, usageErrorf("--to %q: want 64 hex characters, get one with `gossipchain wallet show`", s)
	}
	if err := chain.CheckAddress(a); err != nil {
		return a, usageErrorf("--to: %v", err)
	}
	return a, nil
}

// transferFlags are --to, --amount and --fee.
type transferFlags struct {
	to          string
	amount, fee coinFlag
}

func (t *transferFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&t.to, "to", "", "recipient address, 64 hex characters")
	fs.Var(&t.amount, "amount", "coins to send, a whole number > 0")
	fs.Var(&t.fee, "fee", "fee for the miner, a whole number (default 0)")
}

func (t *transferFlags) check() (chain.Address, error) {
	to, err := parseRecipient(t.to)
	if err != nil {
		return to, err
	}
	if !t.amount.set {
		return to, usageErrorf("--amount is missing: how many coins to send")
	}
	if t.amount.v == 0 {
		return to, usageErrorf("--amount 0: send at least 1 coin")
	}
	return to, nil
}

// runWalletNew is `gossipchain wallet new [--out FILE]`.
func runWalletNew(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := newFlagSet("gossipchain wallet new")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: gossipchain wallet new [--out FILE]\n\nMakes a new key file (0600) and prints its address. It never replaces an\nexisting file. Every flag can also be set as GOSSIPCHAIN_<FLAG>.")
		fs.PrintDefaults()
	}
	out := fs.String("out", "wallet.key", "the key file to create")
	if _, err := parseCmd(fs, args, getenv, stdout); err != nil {
		return subExit("wallet new", err, stderr)
	}
	w, err := wallet.Create(*out)
	if err != nil {
		return subExit("wallet new", err, stderr)
	}
	fmt.Fprintf(stdout, "created: %s (0600; back it up: it holds your coins, and nobody can recover it)\n", *out)
	fmt.Fprintf(stdout, "address: %s\n", w.Address())
	return 0
}

// runWalletShow is `gossipchain wallet show [--wallet FILE | --data-dir DIR]`.
func runWalletShow(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := newFlagSet("gossipchain wallet show")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: gossipchain wallet show [--wallet FILE | --data-dir DIR]\n\nPrints the address of a key file (default: the node's wallet). It creates\nnothing. Every flag can also be set as GOSSIPCHAIN_<FLAG>.")
		fs.PrintDefaults()
	}
	var k keyFlags
	k.register(fs)
	p, err := parseCmd(fs, args, getenv, stdout)
	if err == nil && p.onCmdLine["wallet"] && p.onCmdLine["data-dir"] {
		err = usageErrorf("give either --wallet or --data-dir, not both")
	}
	if err != nil {
		return subExit("wallet show", err, stderr)
	}
	w, err := k.load()
	if err != nil {
		return subExit("wallet show", err, stderr)
	}
	fmt.Fprintf(stdout, "address: %s\n", w.Address())
	return 0
}

// runWalletBalance is `gossipchain wallet balance [--wallet FILE] [--node URL]`.
func runWalletBalance(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := newFlagSet("gossipchain wallet balance")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: gossipchain wallet balance [--wallet FILE] [--node URL]\n\nAsks a node for the balance and next nonce of a key file's address\n(default: the node's wallet). Every flag can also be set as GOSSIPCHAIN_<FLAG>.")
		fs.PrintDefaults()
	}
	var k keyFlags
	var n nodeFlags
	k.register(fs)
	n.register(fs, client.DefaultURL)
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the node")
	if _, err := parseCmd(fs, args, getenv, stdout); err != nil {
		return subExit("wallet balance", err, stderr)
	}
	w, err := k.load()
	if err != nil {
		return subExit("wallet balance", err, stderr)
	}
	c, err := n.client(getenv, k.dataDir)
	if err != nil {
		return subExit("wallet balance", err, stderr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	b, err := c.Balance(ctx, w.Address())
	if err != nil {
		return subExit("wallet balance", err, stderr)
	}
	fmt.Fprintf(stdout, "address: %s\n", b.Address)
	fmt.Fprintf(stdout, "balance: %d\n", b.Balance)
	fmt.Fprintf(stdout, "nonce: %d\n", b.Nonce)
	return 0
}

// runSend is `gossipchain send`: sign here, submit to the node, optionally
// wait for the block.
func runSend(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := newFlagSet("gossipchain send")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `Usage: gossipchain send --to ADDR --amount N [--fee F] [--wallet FILE] [--node URL] [--wait [--timeout D]]

Signs a transfer on this machine with a key file (default: the node's wallet)
for the node's network (GET /status "genesis") with the next nonce
(GET /balance "nonce"), submits it to POST /transactions/new and prints its
id. With --wait it then waits until the transaction is in a main-chain block
and prints that block. The key never leaves this machine. Every flag can
also be set as GOSSIPCHAIN_<FLAG>.`)
		fs.PrintDefaults()
	}
	var k keyFlags
	var n nodeFlags
	var t transferFlags
	t.register(fs)
	k.register(fs)
	n.register(fs, client.DefaultURL)
	wait := fs.Bool("wait", false, "wait until the transaction is in a main-chain block")
	timeout := fs.Duration("timeout", 2*time.Minute, "with --wait: how long to wait for the block")
	if _, err := parseCmd(fs, args, getenv, stdout); err != nil {
		return subExit("send", err, stderr)
	}
	to, err := t.check()
	if err == nil && *timeout <= 0 {
		err = usageErrorf("--timeout %s: must be positive", *timeout)
	}
	if err != nil {
		return subExit("send", err, stderr)
	}
	w, err := k.load()
	if err != nil {
		return subExit("send", err, stderr)
	}
	c, err := n.client(getenv, k.dataDir)
	if err != nil {
		return subExit("send", err, stderr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout+30*time.Second)
	defer cancel()
	st, err := c.Status(ctx)
	if err != nil {
		return subExit("send", err, stderr)
	}
	network, err := chain.ParseHash(st.Genesis)
	if err != nil {
		return subExit("send", fmt.Errorf("%s/status: genesis %q: %v", c.URL(), st.Genesis, err), stderr)
	}
	bal, err := c.Balance(ctx, w.Address())
	if err != nil {
		return subExit("send", err, stderr)
	}
	tx := w.NewTx(network, to, t.amount.v, t.fee.v, bal.Nonce)
	if _, err := c.SubmitTx(ctx, tx); err != nil {
		return subExit("send", err, stderr)
	}
	fmt.Fprintf(stdout, "sent: %d to %s (fee %d, nonce %d) from %s\n", tx.Amount, to, tx.Fee, tx.Nonce, w.Address())
	fmt.Fprintf(stdout, "tx: %s\n", tx.ID())
	if !*wait {
		return 0
	}
	wctx, wcancel := context.WithTimeout(context.Background(), *timeout)
	defer wcancel()
	b, err := c.WaitTx(wctx, tx.ID(), st.Index, 250*time.Millisecond)
	if errors.Is(err, client.ErrNotConfirmed) {
		err = fmt.Errorf("tx %s is not in a main-chain block after %s (--timeout): is the node, or a peer of it, mining? It may still be pending (GET /transactions/pending)", tx.ID(), *timeout)
	}
	if err != nil {
		return subExit("send", err, stderr)
	}
	fmt.Fprintf(stdout, "block: %d %s\n", b.Index, b.Hash)
	return 0
}

// runTx dispatches `gossipchain tx ...`.
func runTx(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "sign" {
		return runTxSign(args[1:], getenv, stdout, stderr)
	}
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help") {
		fmt.Fprintln(stdout, "Usage: gossipchain tx sign --to ADDR --amount N --nonce N [--fee F] [--wallet FILE] (--network GENESIS_HEX | --difficulty BITS | --node URL)")
		return 0
	}
	what := "nothing"
	if len(args) > 0 {
		what = strconv.Quote(args[0])
	}
	return subExit("tx", usageErrorf("want `gossipchain tx sign ...`, got %s", what), stderr)
}

// runTxSign is `gossipchain tx sign`: print a signed transaction as the
// JSON POST /transactions/new accepts, for offline signing.
func runTxSign(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := newFlagSet("gossipchain tx sign")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), `Usage: gossipchain tx sign --to ADDR --amount N --nonce N [--fee F] [--wallet FILE]
                         (--network GENESIS_HEX | --difficulty BITS | --node URL)

Prints a transfer signed with a key file (default: the node's wallet) as the
JSON that POST /transactions/new accepts:
  gossipchain tx sign ... | curl -s -H 'Content-Type: application/json' -d @- 127.0.0.1:5000/transactions/new
The signature commits to the network, its genesis hash. Give it as one of
  --network HEX     the "genesis" of GET /status (or the node's "genesis:" line);
  --difficulty N    the default network started with --difficulty N (computed
                    here, offline: the genesis commits to every parameter);
  --node URL        ask a running node (GET /status).
The nonce is the sender's next one: GET /balance/{address} "nonce" (counting
pending transactions). Every flag can also be set as GOSSIPCHAIN_<FLAG>; a
source on the command line wins over one from the environment.`)
		fs.PrintDefaults()
	}
	var k keyFlags
	var n nodeFlags
	var t transferFlags
	var nonce coinFlag
	t.register(fs)
	fs.Var(&nonce, "nonce", "the sender's next nonce (GET /balance/{address} \"nonce\")")
	k.register(fs)
	networkHex := fs.String("network", "", "the network's genesis hash, 64 hex characters (GET /status \"genesis\")")
	difficulty := fs.Uint("difficulty", 0, "sign for the default network with this --difficulty (as the node's flag), computed offline")
	n.register(fs, "")
	timeout := fs.Duration("timeout", 30*time.Second, "with --node: how long to wait for it")
	p, err := parseCmd(fs, args, getenv, stdout)
	if err != nil {
		return subExit("tx sign", err, stderr)
	}
	to, err := t.check()
	if err == nil && !nonce.set {
		err = usageErrorf("--nonce is missing: the sender's next nonce (GET /balance/{address} \"nonce\", or `gossipchain wallet balance`)")
	}
	if err != nil {
		return subExit("tx sign", err, stderr)
	}
	// The network: a source on the command line wins over the environment;
	// two at the same level are a mistake.
	sources := []string{"network", "difficulty", "node"}
	var chosen string
	for _, level := range []map[string]bool{p.onCmdLine, p.fromEnv} {
		var here []string
		for _, s := range sources {
			if level[s] {
				here = append(here, "--"+s)
			}
		}
		if len(here) > 1 {
			return subExit("tx sign", usageErrorf("give one of %s, not several", strings.Join(here, ", ")), stderr)
		}
		if len(here) == 1 {
			chosen = here[0][2:]
			break
		}
	}
	var network chain.Hash
	switch chosen {
	case "network":
		if network, err = chain.ParseHash(*networkHex); err != nil {
			err = usageErrorf("--network %q: want the 64 hex characters of the genesis hash (GET /status \"genesis\")", *networkHex)
		}
	case "difficulty":
		if *difficulty < 1 || *difficulty > 64 {
			err = usageErrorf("--difficulty %d: must be between 1 and 64 leading zero bits", *difficulty)
		} else {
			network = chain.NetworkID(chain.DefaultParams().WithDifficulty(*difficulty))
		}
	case "node":
		var c *client.Client
		if c, err = n.client(getenv, k.dataDir); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), *timeout)
			network, err = c.Network(ctx)
			cancel()
		}
	default:
		err = usageErrorf("which network? give --network GENESIS_HEX (GET /status \"genesis\"), --difficulty BITS (the default network with that --difficulty) or --node URL")
	}
	if err != nil {
		return subExit("tx sign", err, stderr)
	}
	w, err := k.load()
	if err != nil {
		return subExit("tx sign", err, stderr)
	}
	tx := w.NewTx(network, to, t.amount.v, t.fee.v, nonce.v)
	data, err := json.Marshal(client.SignedTx(tx))
	if err != nil {
		return subExit("tx sign", err, stderr)
	}
	fmt.Fprintf(stdout, "%s\n", data)
	return 0
}
