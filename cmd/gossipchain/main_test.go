package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// testVersion is stamped into the test binary with -ldflags -X.
const testVersion = "v0.0.0-test"

// binPath is the gossipchain binary built once by TestMain.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gossipchain-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "gossipchain")
	args := []string{"build", "-o", binPath, "-ldflags", "-X main.version=" + testVersion}
	if raceEnabled {
		args = append(args, "-race") // the binary under test is checked too
	}
	build := exec.Command(goTool(), append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "building gossipchain: %v\n", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// cleanEnv is the environment without GOSSIPCHAIN_* variables, plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envPrefix) {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// runCmd runs the binary to completion and returns its exit code and output.
func runCmd(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Env = cleanEnv(env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		switch {
		case err == nil:
		case errors.As(err, &ee):
			code = ee.ExitCode()
		default:
			t.Fatalf("gossipchain %v: %v", args, err)
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("gossipchain %v did not exit within 60 s; stderr:\n%s", args, errb.String())
	}
	return code, out.String(), errb.String()
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a running node binary.
type proc struct {
	t       *testing.T
	name    string
	dataDir string
	cmd     *exec.Cmd
	stderr  *syncBuffer

	mu    sync.Mutex
	lines []string
	info  map[string][]string // start-up "key: value" lines

	ready   chan struct{} // the "http:" line was printed
	done    chan struct{} // the process exited
	waitErr error
	stopped bool
}

// nodeArgs are the flags every test node runs with: loopback only, no mDNS,
// an easy network, an API on a free port, one miner goroutine.
func nodeArgs(dataDir string) []string {
	return []string{
		"--data-dir", dataDir,
		"--mdns=false",
		"--listen", "/ip4/127.0.0.1/tcp/0",
		"--difficulty", "8",
		"--http", "127.0.0.1:0",
		"--console=false",
		"--miner-workers", "1",
		"--log-level", "debug",
	}
}

// startNode starts the binary on dataDir and waits for its start-up lines.
// Cleanup stops it with SIGTERM and checks that it exits 0.
func startNode(t *testing.T, name, dataDir string, extra ...string) *proc {
	t.Helper()
	return startProc(t, name, dataDir, nil, nil, append(nodeArgs(dataDir), extra...)...)
}

func startProc(t *testing.T, name, dataDir string, env []string, stdin io.Reader, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, dataDir: dataDir, stderr: &syncBuffer{}, info: map[string][]string{},
		ready: make(chan struct{}), done: make(chan struct{})}
	p.cmd = exec.Command(binPath, args...)
	p.cmd.Env = cleanEnv(env...)
	p.cmd.Stdin = stdin
	p.cmd.Stderr = p.stderr
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		readied := false
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.lines = append(p.lines, line)
			if !readied {
				if k, v, ok := strings.Cut(line, ": "); ok {
					p.info[k] = append(p.info[k], v)
				}
			}
			p.mu.Unlock()
			if !readied && strings.HasPrefix(line, "http: ") {
				readied = true
				close(p.ready)
			}
		}
		io.Copy(io.Discard, out)
		p.waitErr = p.cmd.Wait() // after the last read, as exec requires
		close(p.done)
	}()
	t.Cleanup(func() { p.stop() })
	select {
	case <-p.ready:
	case <-p.done:
		t.Fatalf("%s exited during start-up (%v); stdout:\n%s\nstderr:\n%s", name, p.waitErr, p.stdout(), p.stderr)
	case <-time.After(60 * time.Second):
		t.Fatalf("%s: no start-up lines within 60 s; stderr:\n%s", name, p.stderr)
	}
	return p
}

func (p *proc) stdout() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

// get returns the value of a start-up line.
func (p *proc) get(key string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if v := p.info[key]; len(v) > 0 {
		return v[0]
	}
	p.t.Fatalf("%s printed no %q line; stdout:\n%s", p.name, key, strings.Join(p.lines, "\n"))
	return ""
}

// addrs are the printed multiaddrs.
func (p *proc) addrs() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.info["addr"]...)
}

func (p *proc) url() string { return "http://" + p.get("http") }

// signal sends sig and waits for the exit, returning the exit code (-1
// when killed by a signal).
func (p *proc) signal(sig syscall.Signal) int {
	p.t.Helper()
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
	select {
	case <-p.done:
	default:
		p.cmd.Process.Signal(sig)
	}
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		p.t.Errorf("%s did not exit within 30 s of %v; stderr tail:\n%s", p.name, sig, tail(p.stderr.String(), 3000))
	}
	return p.cmd.ProcessState.ExitCode()
}

// stop is the cleanup: SIGTERM must end the node with exit code 0.
func (p *proc) stop() {
	p.mu.Lock()
	stopped := p.stopped
	p.mu.Unlock()
	if stopped {
		return
	}
	if code := p.signal(syscall.SIGTERM); code != 0 {
		p.t.Errorf("%s: exit code %d after SIGTERM, want 0; stderr tail:\n%s", p.name, code, tail(p.stderr.String(), 3000))
	}
	if p.t.Failed() {
		p.t.Logf("%s stderr tail:\n%s", p.name, tail(p.stderr.String(), 4000))
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
