package web_test

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/PID/stat.
const clockTicks = 100

// procCPU returns a process's user+system CPU time from /proc/PID/stat.
func procCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:]) // after "pid (comm) "
	ut, _ := strconv.ParseInt(fields[11], 10, 64)                 // field 14
	st, _ := strconv.ParseInt(fields[12], 10, 64)                 // field 15
	return time.Duration(ut+st) * time.Second / clockTicks
}

// TestSSECost measures what open dashboards cost an idle node: the real
// binary, first with no dashboard for the period, then with ten event
// streams open for the same period; CPU from /proc/PID/stat. Run it with
// GOSSIPCHAIN_SSE_BENCH=60s (the period); it is skipped otherwise.
func TestSSECost(t *testing.T) {
	period, err := time.ParseDuration(os.Getenv("GOSSIPCHAIN_SSE_BENCH"))
	if err != nil || period <= 0 {
		t.Skip("set GOSSIPCHAIN_SSE_BENCH=60s to measure what ten open dashboards cost")
	}
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("needs /proc")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "gossipchain")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/gossipchain").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "--data-dir", filepath.Join(dir, "data"), "--http", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0",
		"--mdns=false", "--console=false", "--difficulty", "8", "--log-level", "warn")
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }()
	var base string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if addr, ok := strings.CutPrefix(sc.Text(), "http: "); ok {
			base = "http://" + addr
			break
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()
	if base == "" {
		t.Fatal("no http: line")
	}
	pid := cmd.Process.Pid
	time.Sleep(3 * time.Second) // let start-up work (beacon, first snapshot) pass; not a readiness wait

	c0 := procCPU(t, pid)
	time.Sleep(period)
	idle := procCPU(t, pid) - c0

	ctx, cancel := context.WithCancel(context.Background())
	var events atomic.Int64
	for range 10 {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/web/events", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		go func() {
			r := bufio.NewScanner(resp.Body)
			r.Buffer(make([]byte, 1<<20), 1<<20)
			for r.Scan() {
				if strings.HasPrefix(r.Text(), "event: ") {
					events.Add(1)
				}
			}
		}()
	}
	c1 := procCPU(t, pid)
	time.Sleep(period)
	open := procCPU(t, pid) - c1
	cancel()
	pct := func(d time.Duration) float64 { return 100 * d.Seconds() / period.Seconds() }
	t.Logf("idle node, %s: %s CPU (%.2f%% of one core); with 10 SSE clients: %s (%.2f%%), %d events delivered",
		period, idle, pct(idle), open, pct(open), events.Load())
	if pct(open) >= 2 {
		t.Errorf("ten dashboards cost %.2f%% CPU, want < 2%%", pct(open))
	}
}
