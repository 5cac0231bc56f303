package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gossipchain/gossipchain/api"
	"github.com/gossipchain/gossipchain/chain"
	"github.com/gossipchain/gossipchain/console"
	"github.com/gossipchain/gossipchain/node"
	"github.com/gossipchain/gossipchain/web"
)

// shutdownTimeout bounds how long in-flight HTTP requests may finish.
const shutdownTimeout = 5 * time.Second

// runNode runs a node until SIGINT/SIGTERM, or until the console ends.
func runNode(args []string, stdin *os.File, stdout, stderr io.Writer) int {
	tty := probeTTY(stdin, stdout)
	// The console is on by default in a terminal's foreground; a node
	// started with & serves its API and logs, and leaves the terminal to
	// the shell.
	cfg, err := parseConfig(args, os.Getenv, tty.stdinTerm && tty.foreground, stdout)
	if err != nil {
		return exitCode(err, stderr)
	}
	consoleOff := ""
	if cfg.console && tty.stdinTerm && !tty.foreground {
		cfg.console = false
		consoleOff = "console off: this process is not in its terminal's foreground (started with &?), and reading the terminal would stop it; the API and logs go on"
	}
	isTerm := tty.interactive()
	level := cfg.logLevel
	if cfg.console && isTerm && !cfg.logLevelSet {
		// Info lines on stderr would run through the console's line
		// editing; ask for them with --log-level info.
		level = slog.LevelWarn
	}
	logger := newLogger(stderr, cfg.logFormat, level)
	now, skew, err := clockFromEnv(os.Getenv)
	if err != nil {
		return exitCode(err, stderr)
	}
	if skew != 0 {
		logger.Warn(clockNote(skew))
	}

	if consoleOff != "" {
		logger.Warn(consoleOff)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	walletPath := filepath.Join(cfg.dataDir, node.WalletFile)
	_, statErr := os.Stat(walletPath)
	newWallet := errors.Is(statErr, fs.ErrNotExist)

	// The HTTP port first, then the node: a second node on this machine
	// with the defaults clashes on both, and one line names every flag to
	// change. Listen before printing, so that port 0 is printed as the
	// real port.
	var ln net.Listener
	var httpListenErr error
	if cfg.http != "" {
		ln, httpListenErr = net.Listen("tcp", cfg.http)
	}
	metrics := api.NewMetrics()
	params := chain.DefaultParams().WithDifficulty(cfg.difficulty)
	n, err := node.New(ctx, node.Config{
		DataDir:       cfg.dataDir,
		Params:        params,
		ListenAddrs:   cfg.listen,
		Bootstrap:     cfg.bootstrap,
		MDNS:          cfg.mdns,
		DHT:           cfg.dht,
		NAT:           cfg.nat,
		RelayService:  cfg.relayService,
		NATPortMap:    cfg.natPortMap,
		UserAgent:     "gossipchain/" + version,
		MinerWorkers:  cfg.minerWorkers,
		IdentitySeed:  cfg.identitySeed,
		BanDuration:   cfg.banDuration,
		NoStatsBeacon: !cfg.statsBeacon,
		Logger:        logger,
		Observe:       metrics.Observe,
		Now:           now,
	})
	if err != nil || httpListenErr != nil {
		if ln != nil {
			ln.Close()
		}
		if n != nil {
			n.Close()
		}
		if errors.Is(err, chain.ErrStoreDamaged) {
			return storeDamaged(err, cfg.dataDir, stderr)
		}
		return exitCode(startError(cfg, err, httpListenErr), stderr)
	}

	var srv *http.Server
	httpErr := make(chan error, 1)
	httpAddr := "off"
	cookiePath := ""
	if cfg.http != "" {
		httpAddr = ln.Addr().String()
		token, cookie, err := apiToken(cfg.dataDir, cfg.httpToken, cfg.http)
		if err != nil {
			ln.Close()
			n.Close()
			return exitCode(err, stderr)
		}
		if cookie != "" {
			cookiePath = cookie
			defer os.Remove(cookie)
			logger.Info("HTTP API listens off loopback: its token is in the cookie file", "cookie", cookie)
		}
		dash := web.New(n, web.Options{Logger: logger})
		srv = api.NewHTTPServer(api.New(n, api.Options{
			Logger:     logger,
			Metrics:    metrics,
			ListenAddr: cfg.http,
			VHosts:     cfg.httpVHosts,
			Token:      token,
			Web:        dash,
		}), logger)
		srv.RegisterOnShutdown(dash.Close) // ends the dashboards' event streams
		go func() { httpErr <- srv.Serve(ln) }()
	}

	// Start-up lines, "key: value", one multiaddr per "addr:" line; "http:"
	// comes last, once everything is up.
	tip := n.Chain().Tip()
	fmt.Fprintf(stdout, "version: %s\n", versionString())
	fmt.Fprintf(stdout, "network: %s (difficulty %d bits)\n", params.Name, cfg.difficulty)
	fmt.Fprintf(stdout, "genesis: %s\n", tip.Genesis)
	fmt.Fprintf(stdout, "data_dir: %s\n", cfg.dataDir)
	fmt.Fprintf(stdout, "peer_id: %s\n", n.ID())
	for _, a := range n.Addrs() {
		fmt.Fprintf(stdout, "addr: %s\n", a)
	}
	fmt.Fprintf(stdout, "wallet: %s\n", n.Address())
	if newWallet {
		fmt.Fprintf(stdout, "wallet_key: %s (new: back it up, it holds your coins)\n", walletPath)
	}
	fmt.Fprintf(stdout, "head: %d %s\n", tip.Index, tip.Hash)
	if cfg.mine {
		n.StartMining()
		fmt.Fprintln(stdout, "mining: on")
	}
	if cookiePath != "" {
		fmt.Fprintf(stdout, "http_cookie: %s (the API's token: Authorization: Bearer $(cat %s))\n", cookiePath, cookiePath)
	}
	fmt.Fprintf(stdout, "http: %s\n", httpAddr)

	consoleDone := make(chan error, 1)
	if cfg.console {
		go func() {
			consoleDone <- console.Run(ctx, n, stdin, stdout, console.Options{Terminal: isTerm, Logger: logger})
		}()
	}

	code := 0
	select {
	case <-ctx.Done():
		logger.Info("shutting down: signal received")
	case err := <-consoleDone:
		if err != nil && ctx.Err() == nil {
			logger.Error("console", "err", err)
		}
		logger.Info("shutting down: console ended")
	case err := <-httpErr:
		logger.Error("HTTP API stopped", "err", err)
		code = 1
	}
	stop() // from here a second signal kills the process at once

	if cfg.console {
		// Let the console restore the terminal; it may be stuck reading
		// stdin, which is not worth waiting for.
		select {
		case <-consoleDone:
		case <-time.After(time.Second):
		}
	}
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		if err := srv.Shutdown(sctx); err != nil {
			logger.Warn("HTTP API shutdown", "err", err)
			srv.Close()
		}
		cancel()
	}
	if err := n.Close(); err != nil {
		logger.Error("closing node", "err", err)
		code = 1
	}
	logger.Info("stopped")
	return code
}

// startError is the one line for a node that could not start: a port in
// use names the flag that chooses it, and a store made for another
// network says how to start a new one.
func startError(cfg *config, nodeErr, httpErr error) error {
	var parts []string
	var inUse *node.ListenInUseError
	if errors.As(nodeErr, &inUse) {
		parts = append(parts, fmt.Sprintf("the libp2p port is in use (--listen %s; another node on this machine?): give this node another, e.g. --listen /ip4/0.0.0.0/tcp/0 (any free port) or --listen /ip4/0.0.0.0/tcp/4002,/ip4/0.0.0.0/udp/4002/quic-v1",
			strings.Join(cfg.listen, ",")))
	} else if gm := (*chain.GenesisMismatchError)(nil); errors.As(nodeErr, &gm) {
		made, again := "for another network (other rules)", "the settings it was made with"
		if gm.StoredBits != 0 && gm.StoredBits != gm.OursBits {
			made = fmt.Sprintf("with --difficulty %d", chain.LeadingZeroBits(gm.StoredBits))
			again = made[len("with "):]
		}
		parts = append(parts, fmt.Sprintf("the store in --data-dir %s was made %s (genesis %.12s…), and this start asks for --difficulty %d (genesis %.12s…): a store holds one network. Start it with %s, or start a new network in another --data-dir (e.g. --data-dir ./gossipchain-data-%d)",
			cfg.dataDir, made, gm.Stored, cfg.difficulty, gm.Ours, again, cfg.difficulty))
	} else if nodeErr != nil {
		parts = append(parts, nodeErr.Error())
	}
	if httpErr != nil {
		if errors.Is(httpErr, syscall.EADDRINUSE) {
			parts = append(parts, fmt.Sprintf("the HTTP API's port is in use (--http %s): give this node another, e.g. -p 5002 or --http 127.0.0.1:0 (any free port), or --http off", cfg.http))
		} else {
			parts = append(parts, fmt.Sprintf("HTTP API (--http %s): %v", cfg.http, httpErr))
		}
	}
	return errors.New(strings.Join(parts, "; and "))
}

func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
