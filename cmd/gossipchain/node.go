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
	"syscall"
	"time"

	"github.com/gossipchain/gossipchain/api"
	"github.com/gossipchain/gossipchain/chain"
	"github.com/gossipchain/gossipchain/console"
	"github.com/gossipchain/gossipchain/node"
	"golang.org/x/term"
)

// shutdownTimeout bounds how long in-flight HTTP requests may finish.
const shutdownTimeout = 5 * time.Second

// runNode runs a node until SIGINT/SIGTERM, or until the console ends.
func runNode(args []string, stdin *os.File, stdout, stderr io.Writer) int {
	isTerm := stdin != nil && term.IsTerminal(int(stdin.Fd()))
	cfg, err := parseConfig(args, os.Getenv, isTerm, stdout)
	if err != nil {
		return exitCode(err, stderr)
	}
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

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	walletPath := filepath.Join(cfg.dataDir, node.WalletFile)
	_, statErr := os.Stat(walletPath)
	newWallet := errors.Is(statErr, fs.ErrNotExist)

	metrics := api.NewMetrics()
	params := chain.DefaultParams().WithDifficulty(cfg.difficulty)
	n, err := node.New(ctx, node.Config{
		DataDir:      cfg.dataDir,
		Params:       params,
		ListenAddrs:  cfg.listen,
		Bootstrap:    cfg.bootstrap,
		MDNS:         cfg.mdns,
		MinerWorkers: cfg.minerWorkers,
		IdentitySeed: cfg.identitySeed,
		BanDuration:  cfg.banDuration,
		Logger:       logger,
		Observe:      metrics.Observe,
		Now:          now,
	})
	if errors.Is(err, chain.ErrStoreDamaged) {
		return storeDamaged(err, cfg.dataDir, stderr)
	}
	if err != nil {
		return exitCode(err, stderr)
	}

	// Listen before printing, so that port 0 is printed as the real port.
	var srv *http.Server
	httpErr := make(chan error, 1)
	httpAddr := "off"
	cookiePath := ""
	if cfg.http != "" {
		ln, err := net.Listen("tcp", cfg.http)
		if err != nil {
			n.Close()
			return exitCode(fmt.Errorf("HTTP API: %w", err), stderr)
		}
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
		srv = api.NewHTTPServer(api.New(n, api.Options{
			Logger:     logger,
			Metrics:    metrics,
			ListenAddr: cfg.http,
			VHosts:     cfg.httpVHosts,
			Token:      token,
		}), logger)
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

func newLogger(w io.Writer, format string, level slog.Level) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
