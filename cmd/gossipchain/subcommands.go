package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/gossipchain/gossipchain/api"
	"github.com/gossipchain/gossipchain/chain"
	"github.com/gossipchain/gossipchain/node"
)

// runWallet is `gossipchain wallet`: show the wallet's address, creating the
// key if there is none yet.
func runWallet(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "show" {
		args = args[1:] // `wallet show`, as the API's error messages say
	}
	fs := newFlagSet("gossipchain wallet")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: gossipchain wallet [show] [--data-dir D]\n\nShows the address of the wallet in the data directory, creating its key if missing.")
		fs.PrintDefaults()
	}
	dataDir := fs.String("data-dir", "./gossipchain-data", "data directory (also "+envName("data-dir")+")")
	if err := parseSub(fs, args, getenv, stdout); err != nil {
		return exitCode(err, stderr)
	}
	path := filepath.Join(*dataDir, node.WalletFile)
	w, created, err := chain.LoadOrCreateWallet(path)
	if err != nil {
		return exitCode(err, stderr)
	}
	if created {
		fmt.Fprintf(stdout, "created: a new wallet key in %s (back it up: it holds your coins)\n", path)
	}
	fmt.Fprintf(stdout, "address: %s\n", w.Address())
	return 0
}

// parseSub parses a subcommand's flags, then its environment variables.
func parseSub(fs *flag.FlagSet, args []string, getenv func(string) string, help io.Writer) error {
	if err := parseFlags(fs, args, help); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected argument %q", fs.Arg(0))
	}
	_, err := applyEnv(fs, getenv, "p")
	return err
}

// runHealth is `gossipchain health`: GET /health on the local API, for a
// container's health check (there is no curl in a scratch image). It exits
// 0 when the node answers {"status":"ok"} and 1 otherwise — also for bad
// flags, since Docker reserves exit code 2 in health checks. /health needs
// no token, but the command sends the node's if it has one (--http-token,
// else the cookie file in --data-dir), so it keeps working should the
// API ever require it.
func runHealth(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := newFlagSet("gossipchain health")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: gossipchain health [--http ADDR] [--timeout D] [--data-dir D] [--http-token T]\n\nExits 0 if the node's HTTP API answers GET /health, else 1.")
		fs.PrintDefaults()
	}
	addr := fs.String("http", "127.0.0.1:5000", "the node's HTTP API address (also "+envName("http")+")")
	dataDir := fs.String("data-dir", "./gossipchain-data", "the node's data directory, whose "+api.CookieFile+" file holds a generated token (also "+envName("data-dir")+")")
	token := fs.String("http-token", "", "the node's API token, instead of the cookie file (also "+envName("http-token")+")")
	port := &portFlag{}
	fs.Var(port, "p", "shorthand for --http 127.0.0.1:N")
	fs.Var(port, "port", "same as -p")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for the answer")
	if err := parseSub(fs, args, getenv, stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "gossipchain health: %v\n", err)
		return 1
	}
	if port.set {
		*addr = port.addr()
	}
	u, err := healthURL(*addr)
	if err != nil {
		fmt.Fprintf(stderr, "gossipchain health: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		fmt.Fprintf(stderr, "gossipchain health: %v\n", err)
		return 1
	}
	if *token == "" {
		if *token, err = readCookie(*dataDir); err != nil {
			fmt.Fprintf(stderr, "gossipchain health: reading the token: %v\n", err)
			return 1
		}
	}
	if *token != "" {
		req.Header.Set("Authorization", "Bearer "+*token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "gossipchain health: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	var h struct {
		Status string `json:"status"`
		Index  uint64 `json:"index"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&h); err != nil || resp.StatusCode != http.StatusOK || h.Status != "ok" {
		fmt.Fprintf(stderr, "gossipchain health: %s answered %s (status %q, %v)\n", u, resp.Status, h.Status, err)
		return 1
	}
	fmt.Fprintf(stdout, "ok: index %d\n", h.Index)
	return 0
}

// healthURL turns an --http listen address into the URL of its /health:
// an unspecified host (":5000", "0.0.0.0:5000", "[::]:5000") is this
// machine's loopback.
func healthURL(addr string) (string, error) {
	if addr == "" || strings.EqualFold(addr, "off") {
		return "", errors.New("the HTTP API is off (--http): nothing to ask")
	}
	if strings.Contains(addr, "://") {
		u, err := url.Parse(addr)
		if err != nil || u.Host == "" {
			return "", fmt.Errorf("--http %q: not a URL or host:port", addr)
		}
		return u.Scheme + "://" + u.Host + "/health", nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("--http %q: want host:port: %v", addr, err)
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/health", nil
}
