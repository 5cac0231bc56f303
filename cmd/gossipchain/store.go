package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gossipchain/gossipchain/chain"
	"github.com/gossipchain/gossipchain/node"
)

const storeUsage = `Usage: gossipchain store check [--data-dir D]
       gossipchain store reset [--data-dir D]

The chain store is the file chain.db in the data directory. It holds only
the chain, which peers can send again; the wallet key (wallet.key) and the
node key (node.key) are separate files, and neither command touches them.

  check   open chain.db read-only and check all of it (the file, every
          record, bbolt's pages); exit 0 if it is sound, 1 if not
  reset   move chain.db aside to chain.db.damaged-<UTC time>; the next
          start creates a new store and syncs the chain again from peers
          (refused while a node runs on the data directory)
`

// runStore is `gossipchain store check|reset`.
func runStore(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "check" && args[0] != "reset") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(stdout, storeUsage)
			return 0
		}
		fmt.Fprint(stderr, storeUsage)
		return 2
	}
	verb := args[0]
	fl := newFlagSet("gossipchain store " + verb)
	fl.Usage = func() {
		fmt.Fprint(fl.Output(), storeUsage+"\nFlags:\n")
		fl.PrintDefaults()
	}
	dataDir := fl.String("data-dir", "./gossipchain-data", "data directory (also "+envName("data-dir")+")")
	if err := parseSub(fl, args[1:], getenv, stdout); err != nil {
		return exitCode(err, stderr)
	}
	path := filepath.Join(*dataDir, node.ChainFile)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		fmt.Fprintf(stdout, "no chain store at %s: the next start creates one and syncs from peers\n", path)
		return 0
	}
	if verb == "reset" {
		return storeReset(*dataDir, path, stdout, stderr)
	}
	return storeCheck(path, stdout, stderr)
}

func storeCheck(path string, stdout, stderr io.Writer) int {
	r, err := chain.CheckStore(path)
	if err != nil {
		var d *chain.StoreDamageError
		if errors.As(err, &d) {
			fmt.Fprintf(stderr, "damaged: %s: %s\n", d.Path, d.Problem)
			fmt.Fprintf(stderr, "The wallet key and node key are separate files, not affected. To sync the chain again from peers:\n  gossipchain store reset --data-dir %s\n", shellQuote(filepath.Dir(path)))
			return 1
		}
		fmt.Fprintf(stderr, "gossipchain store check: %v\n", err)
		return 1
	}
	if r.Empty {
		fmt.Fprintf(stdout, "ok: %s is sound and holds no chain yet\n", path)
		return 0
	}
	fmt.Fprintf(stdout, "ok: %s is sound: %d blocks on the main chain (head %s), %d block records, %d accounts; checked in %v (bbolt's page check %v)\n",
		path, r.Height, r.Head, r.Blocks, r.Accounts, r.Took.Round(time.Millisecond), r.BoltCheck.Round(time.Millisecond))
	return 0
}

func storeReset(dataDir, path string, stdout, stderr io.Writer) int {
	unlock, err := lockStoreFile(path)
	if err != nil {
		fmt.Fprintf(stderr, "gossipchain store reset: %v\n", err)
		return 1
	}
	defer unlock()
	stamp := time.Now().UTC().Format("20060102T150405Z")
	dst := path + ".damaged-" + stamp
	for i := 2; ; i++ {
		if _, err := os.Lstat(dst); errors.Is(err, fs.ErrNotExist) {
			break
		}
		dst = fmt.Sprintf("%s.damaged-%s-%d", path, stamp, i)
	}
	if err := os.Rename(path, dst); err != nil {
		fmt.Fprintf(stderr, "gossipchain store reset: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "moved %s to %s\n", path, dst)
	fmt.Fprintf(stdout, "untouched: %s and %s\n", filepath.Join(dataDir, node.WalletFile), filepath.Join(dataDir, node.KeyFile))
	fmt.Fprintln(stdout, "The next start creates a new chain store and syncs the chain from peers. Delete the moved file once the node has caught up.")
	return 0
}

// storeDamaged is the node's refusal to start on a damaged store: what is
// damaged, that the keys are safe, and the way out. Exit code 1.
func storeDamaged(err error, dataDir string, stderr io.Writer) int {
	d := &chain.StoreDamageError{Path: filepath.Join(dataDir, node.ChainFile), Problem: err.Error()}
	errors.As(err, &d)
	dir := shellQuote(dataDir)
	fmt.Fprintf(stderr, "gossipchain: the chain store %s is damaged: %s\n", d.Path, d.Problem)
	fmt.Fprintf(stderr, "Your wallet key (%s) and node key (%s) are separate files and were not touched.\n",
		filepath.Join(dataDir, node.WalletFile), filepath.Join(dataDir, node.KeyFile))
	fmt.Fprintf(stderr, "The chain itself can be synced again from peers: run\n  gossipchain store reset --data-dir %s\n", dir)
	fmt.Fprintf(stderr, "(it moves chain.db aside to chain.db.damaged-<UTC time>) and start the node again.\n")
	fmt.Fprintf(stderr, "To see what is wrong first: gossipchain store check --data-dir %s\n", dir)
	return 1
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:@+=,") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
