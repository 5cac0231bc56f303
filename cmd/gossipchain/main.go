// Command gossipchain runs a gossipchain node: a proof-of-work blockchain
// peer that finds others by mDNS or bootstrap multiaddrs, gossips blocks and
// transactions over libp2p, serves the tutorial's HTTP JSON API and, on a
// terminal, an interactive console.
//
//	gossipchain [flags]                  run a node (gossipchain -h lists the flags)
//	gossipchain version                  print the version
//	gossipchain wallet [--data-dir D]    show the wallet address, creating the key if missing
//	gossipchain wallet new|show|balance  key files and balances (see wallet_cmds.go)
//	gossipchain send --to A --amount N   sign here with a key file, submit to a node's API
//	gossipchain tx sign ...              print a signed transaction, for offline signing
//	gossipchain health [--http ADDR]     exit 0 if the local node's API answers /health, else 1
//	                                     (sends the token of --http-token or --data-dir's cookie file)
//	gossipchain store check|reset        check the chain store, or move a damaged one aside (store.go)
//	gossipchain bench ...                benchmarks (see bench.go)
//
// This package is wiring only: flags and environment to configuration,
// then node, api and console.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run dispatches a subcommand and returns the exit code: 0 success,
// 1 failure, 2 a command-line mistake.
func run(args []string, stdin *os.File, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "version":
			fmt.Fprintln(stdout, versionString())
			return 0
		case "wallet":
			return runWalletCmd(args[1:], os.Getenv, stdout, stderr)
		case "send":
			return runSend(args[1:], os.Getenv, stdout, stderr)
		case "tx":
			return runTx(args[1:], os.Getenv, stdout, stderr)
		case "health":
			return runHealth(args[1:], os.Getenv, stdout, stderr)
		case "store":
			return runStore(args[1:], os.Getenv, stdout, stderr)
		case "bench":
			// Owned by bench.go, which another change replaces.
			return runBench(args[1:])
		case "help":
			args = []string{"-h"}
		}
	}
	return runNode(args, stdin, stdout, stderr)
}

// exitCode turns a start-up error into an exit code, printing it.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case isUsage(err):
		fmt.Fprintf(stderr, "gossipchain: %v\n", err)
		fmt.Fprintln(stderr, "Run 'gossipchain -h' for the flags.")
		return 2
	default:
		fmt.Fprintf(stderr, "gossipchain: %v\n", err)
		return 1
	}
}

// versionString is the version, the VCS revision when the binary has one
// and the Go version.
func versionString() string {
	s := "gossipchain " + version
	if info, ok := debug.ReadBuildInfo(); ok {
		var rev, dirty string
		for _, kv := range info.Settings {
			switch kv.Key {
			case "vcs.revision":
				rev = kv.Value
			case "vcs.modified":
				if kv.Value == "true" {
					dirty = "-dirty"
				}
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			s += " (" + rev + dirty + ")"
		}
	}
	return fmt.Sprintf("%s %s %s/%s", s, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
