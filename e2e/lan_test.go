package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestLANDemo runs demo/lan.sh with the built binary: it must pass its own
// check (nodes in network namespaces find each other by mDNS and a block
// mined on one reaches all), and leave nothing behind — also when it is
// interrupted half-way.
func TestLANDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the LAN demo")
	}
	if os.Geteuid() != 0 {
		t.Skip("demo/lan.sh needs root (network namespaces): skipping the LAN demo test")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		requirement(t, "ip (iproute2) is not installed: the LAN demo needs it")
	}
	probe := fmt.Sprintf("gce2eprobe%d", os.Getpid())
	if _, err := runCmd(30*time.Second, nil, "ip", "netns", "add", probe); err != nil {
		requirement(t, "cannot create network namespaces here: %v", err)
	}
	_, _ = runCmd(30*time.Second, nil, "ip", "netns", "delete", probe)
	bin := gossipchainBinary(t)

	t.Run("Pass", func(t *testing.T) {
		prefix := fmt.Sprintf("gce2e%da", os.Getpid())
		res := runLAN(t, bin, prefix, 3, false, "")
		if res.err != nil {
			t.Fatalf("demo/lan.sh failed: %v", res.err)
		}
		if !strings.Contains(res.output, "PASS:") {
			t.Fatalf("demo/lan.sh exited 0 without saying PASS")
		}
		// Cleanup's expected failures (kill of a process already gone)
		// must not be reported as the demo failing.
		if strings.Contains(res.output, "FAIL") {
			t.Errorf("demo/lan.sh passed but printed FAIL:\n%s", res.output)
		}
		checkLANGone(t, prefix, res)
	})

	t.Run("Interrupted", func(t *testing.T) {
		// Ctrl-C right after the nodes started, while the script waits for
		// mDNS: it must clean up all the same.
		prefix := fmt.Sprintf("gce2e%db", os.Getpid())
		res := runLAN(t, bin, prefix, 3, true, "node 3: started")
		var ee *exec.ExitError
		if !errors.As(res.err, &ee) || ee.ExitCode() != 130 {
			t.Fatalf("demo/lan.sh after SIGINT: %v, want exit status 130", res.err)
		}
		if !strings.Contains(res.output, "interrupted") {
			t.Errorf("the script did not say it was interrupted")
		}
		if strings.Contains(res.output, "FAIL") {
			t.Errorf("demo/lan.sh printed FAIL on Ctrl-C:\n%s", res.output)
		}
		checkLANGone(t, prefix, res)
	})

	t.Run("InterruptedWhileHolding", func(t *testing.T) {
		// LAN_HOLD=1: PASS, then Ctrl-C: a clean exit 130, no FAIL.
		prefix := fmt.Sprintf("gce2e%dc", os.Getpid())
		res := runLAN(t, bin, prefix, 2, true, "press Ctrl-C")
		var ee *exec.ExitError
		if !errors.As(res.err, &ee) || ee.ExitCode() != 130 {
			t.Fatalf("demo/lan.sh after SIGINT: %v, want exit status 130", res.err)
		}
		if !strings.Contains(res.output, "PASS:") || strings.Contains(res.output, "FAIL") {
			t.Errorf("want PASS and no FAIL:\n%s", res.output)
		}
		checkLANGone(t, prefix, res)
	})
}

type lanResult struct {
	output string
	err    error
	pids   []int
	tmp    string // the TMPDIR given to the script
}

var pidLine = regexp.MustCompile(`node \d+: started in \S+, pid (\d+)`)

// runLAN runs the script; with interruptAt set it sends SIGINT once a line
// containing interruptAt is printed (LAN_HOLD=1 keeps it from ending first).
func runLAN(t *testing.T, bin, prefix string, nodes int, hold bool, interruptAt string) lanResult {
	t.Helper()
	res := lanResult{tmp: t.TempDir()}
	cmd := exec.Command("bash", filepath.Join(repoRoot, "demo", "lan.sh"))
	cmd.Env = append(os.Environ(),
		"GOSSIPCHAIN_BIN="+bin,
		"LAN_PREFIX="+prefix,
		"LAN_NODES="+strconv.Itoa(nodes),
		"LAN_TIMEOUT=60",
		"TMPDIR="+res.tmp,
	)
	if hold {
		cmd.Env = append(cmd.Env, "LAN_HOLD=1")
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout // one stream, in order
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Whatever happens, the script does not outlive the test.
	stop := addTeardown(func() { _ = cmd.Process.Signal(syscall.SIGTERM) })
	defer stop()

	var out strings.Builder
	var once sync.Once
	timer := time.AfterFunc(3*time.Minute, func() { _ = cmd.Process.Signal(syscall.SIGTERM) })
	defer timer.Stop()
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		t.Log(line)
		out.WriteString(line + "\n")
		if m := pidLine.FindStringSubmatch(line); m != nil {
			pid, _ := strconv.Atoi(m[1])
			res.pids = append(res.pids, pid)
		}
		if interruptAt != "" && strings.Contains(line, interruptAt) {
			once.Do(func() {
				t.Logf("sending SIGINT to demo/lan.sh (pid %d)", cmd.Process.Pid)
				_ = cmd.Process.Signal(os.Interrupt)
			})
		}
	}
	res.err = cmd.Wait()
	res.output = out.String()
	t.Logf("demo/lan.sh ended after %v: %v", time.Since(start).Round(100*time.Millisecond), res.err)
	return res
}

// checkLANGone checks nothing the script created is left: namespaces (and
// so the bridge and veths), node processes, temporary files.
func checkLANGone(t *testing.T, prefix string, res lanResult) {
	t.Helper()
	if len(res.pids) == 0 {
		t.Errorf("the script printed no node pids")
	}
	out, err := runCmd(30*time.Second, nil, "ip", "netns", "list")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			t.Errorf("network namespace left behind: %s", l)
		}
	}
	for _, pid := range res.pids {
		// A pid may be reused, but not by a gossipchain node this quickly.
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil && strings.Contains(string(b), "gossipchain") {
			t.Errorf("node process %d is still running: %q", pid, b)
		}
	}
	entries, err := os.ReadDir(res.tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("temporary file left behind: %s", filepath.Join(res.tmp, e.Name()))
	}
}
