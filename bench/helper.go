package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// Helper makes the command of a helper process of this program, given the
// helper's arguments (see RunHelper). The syncing node of the sync
// measurement and the node at rest run in helpers, so that the RSS read is
// theirs alone.
type Helper func(args ...string) *exec.Cmd

// HelperArg is the bench sub-mode under which the gossipchain binary runs a
// helper: `gossipchain bench _helper <role> [flags]`.
const HelperArg = "_helper"

// SelfHelper runs helpers as this executable's `bench _helper`: for the
// gossipchain binary.
func SelfHelper(args ...string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	return exec.Command(exe, append([]string{"bench", HelperArg}, args...)...)
}

// RunHelper is a helper process's main; args are what Helper was given:
//
//	sync  --dir D --peer MULTIADDR --method locator|whole --want INDEX [--difficulty N] [--cpuprofile F]
//	      syncs a fresh node in D from the peer and writes a JSON SyncRun line
//	serve --dir D --api HOST:PORT [--difficulty N]
//	      starts a node on D with its HTTP API and serves until SIGINT/SIGTERM
//	      or until its standard input closes
//
// It returns the process exit code.
func RunHelper(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "bench helper: want a role: sync or serve")
		return 2
	}
	fs := flag.NewFlagSet("bench "+HelperArg+" "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "data directory")
	peerAddr := fs.String("peer", "", "peer multiaddr to sync from")
	method := fs.String("method", "locator", "locator or whole")
	want := fs.Uint64("want", 0, "tip index the sync must reach")
	apiAddr := fs.String("api", "127.0.0.1:0", "HTTP API address")
	difficulty := fs.Uint("difficulty", 4, "leading zero bits of the test network")
	profile := fs.String("cpuprofile", "", "sync: CPU profile of the sync to this file")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	o := Options{Difficulty: *difficulty}
	o.setDefaults()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "sync":
		run, err := syncOnce(ctx, o.params(), *dir, *peerAddr, *method, *want, *profile)
		if err != nil {
			fmt.Fprintln(stderr, "bench helper:", err)
			return 1
		}
		if err := json.NewEncoder(stdout).Encode(run); err != nil {
			return 1
		}
		return 0
	case "serve":
		n, err := startNode(*dir, o.params())
		if err != nil {
			fmt.Fprintln(stderr, "bench helper:", err)
			return 1
		}
		defer n.Close()
		base, stopAPI, err := serveAPI(n, *apiAddr)
		if err != nil {
			fmt.Fprintln(stderr, "bench helper:", err)
			return 1
		}
		defer stopAPI()
		fmt.Fprintf(stdout, "{\"api\":%q}\n", base)
		go func() { // the parent closing our stdin ends us too
			io.Copy(io.Discard, os.Stdin)
			stop()
		}()
		<-ctx.Done()
		return 0
	}
	fmt.Fprintf(stderr, "bench helper: unknown role %q\n", args[0])
	return 2
}

// runHelper runs a helper to completion (killing it if ctx ends first) and
// decodes its JSON output into v.
func runHelper(ctx context.Context, h Helper, v any, args ...string) error {
	cmd := h(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			cmd.Process.Kill()
		case <-done:
		}
	}()
	err := cmd.Wait()
	close(done)
	if err != nil {
		return fmt.Errorf("helper %v: %w: %s", args, err, bytes.TrimSpace(errb.Bytes()))
	}
	if err := json.Unmarshal(out.Bytes(), v); err != nil {
		return fmt.Errorf("helper %v output %q: %w", args, out.String(), err)
	}
	return nil
}

// server is a node process serving its API.
type server struct {
	cmd  *exec.Cmd
	base string
	done chan error
	errb *bytes.Buffer
}

// startServer starts a node process on dir with its API on a free loopback
// port: the real binary when NodeCommand is set, else the helper's serve.
func startServer(o *Options, dir string) (*server, string, error) {
	port, err := freePort()
	if err != nil {
		return nil, "", err
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	var cmd *exec.Cmd
	how := "gossipchain binary"
	if o.NodeCommand != nil {
		cmd = o.NodeCommand(dir, addr)
	} else {
		cmd = o.Helper("serve", "--dir", dir, "--api", addr, "--difficulty", strconv.FormatUint(uint64(o.Difficulty), 10))
		how = "helper process (node.New + api.New)"
	}
	s := &server{cmd: cmd, base: "http://" + addr, done: make(chan error, 1), errb: new(bytes.Buffer)}
	cmd.Stdout = io.Discard
	cmd.Stderr = s.errb
	if _, err := cmd.StdinPipe(); err != nil { // closed by us on stop, or if we die
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", err
	}
	go func() { s.done <- cmd.Wait() }()
	return s, how, nil
}

// waitServing polls /health until it answers, the process exits or ctx ends.
func (s *server) waitServing(ctx context.Context, every time.Duration) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res := make(chan error, 1)
	go func() { res <- waitHealthy(ctx, newHTTPClient(), s.base, every) }()
	select {
	case err := <-res:
		return err
	case err := <-s.done:
		s.done <- err
		return fmt.Errorf("node process exited before serving: %v: %s", err, bytes.TrimSpace(s.errb.Bytes()))
	}
}

// stop interrupts the process and waits for it (killing it after 15 s).
func (s *server) stop() {
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
}

func (s *server) pid() string { return strconv.Itoa(s.cmd.Process.Pid) }

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
