package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
)

// procState is the state letter of /proc/PID/stat: R, S, T (stopped), …
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "gone"
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2 : i+3]
	}
	return "?"
}

// TestBackgroundNode: `gossipchain &` from an interactive shell (job
// control: the node gets its own process group, not the terminal's
// foreground) must not be stopped by SIGTTOU/SIGTTIN: it serves its API
// and leaves the terminal as it was.
func TestBackgroundNode(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	before, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	args := nodeArgs(filepath.Join(dir, "data"))
	for i, a := range args {
		if a == "--console=false" {
			args = append(args[:i], args[i+1:]...) // the default: on a terminal
			break
		}
	}
	var quoted []string
	for _, a := range append([]string{binPath}, args...) {
		quoted = append(quoted, strconv.Quote(a))
	}
	// set -m: job control, as in an interactive shell.
	script := "set -m; " + strings.Join(quoted, " ") + " & echo \"NODEPID=$!\"; wait"
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = cleanEnv()
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	out := &syncBuffer{}
	go io.Copy(out, ptmx)
	var pid int
	defer func() {
		if pid > 0 {
			syscall.Kill(pid, syscall.SIGCONT)
			syscall.Kill(pid, syscall.SIGTERM)
			// The node is the shell's child, not ours: wait until it has
			// exited (it writes its data dir while it shuts down), or the
			// temp dir's removal races it.
			deadline := time.Now().Add(20 * time.Second)
			for procState(pid) != "gone" && procState(pid) != "Z" && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			syscall.Kill(pid, syscall.SIGKILL)
		}
		cmd.Process.Kill()
		cmd.Wait()
	}()
	pidRe := regexp.MustCompile(`NODEPID=(\d+)`)
	httpRe := regexp.MustCompile(`http: (127\.0\.0\.1:\d+)`)
	waitFor(t, "the node's pid and http line", 60*time.Second, func() bool {
		return pidRe.MatchString(out.String()) && httpRe.MatchString(out.String())
	})
	pid, _ = strconv.Atoi(pidRe.FindStringSubmatch(out.String())[1])
	url := "http://" + httpRe.FindStringSubmatch(out.String())[1] + "/health"
	client := &http.Client{Timeout: 3 * time.Second}
	for i := 0; i < 6; i++ {
		time.Sleep(300 * time.Millisecond)
		if st := procState(pid); st == "T" || st == "t" || st == "gone" {
			t.Fatalf("the background node is %s (stopped: SIGTTOU/SIGTTIN?); output:\n%s", st, out.String())
		}
		resp, err := client.Get(url)
		if err != nil {
			t.Fatalf("the background node's API does not answer: %v; output:\n%s", err, out.String())
		}
		resp.Body.Close()
	}
	after, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if after.Lflag != before.Lflag || after.Oflag != before.Oflag {
		t.Errorf("the background node changed the terminal's mode (lflag %#x→%#x, oflag %#x→%#x)", before.Lflag, after.Lflag, before.Oflag, after.Oflag)
	}
}

// TestConsoleStdoutPiped: stdin on a terminal but stdout into a pipe
// (gossipchain | tee log): no raw mode, so what goes to the terminal does
// not staircase; the console reads plain lines and prints plain results.
func TestConsoleStdoutPiped(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	go io.Copy(io.Discard, ptmx)
	dir := t.TempDir()
	args := nodeArgs(filepath.Join(dir, "data"))
	for i, a := range args {
		if a == "--console=false" {
			args[i] = "--console"
		}
	}
	cmd := exec.Command(binPath, args...)
	cmd.Env = cleanEnv()
	cmd.Stdin, cmd.Stderr = tty, tty
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	waitLine := func(prefix string) string {
		t.Helper()
		timeout := time.After(60 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("stdout ended before %q", prefix)
				}
				if strings.Contains(l, prefix) {
					return l
				}
			case <-timeout:
				t.Fatalf("no %q line", prefix)
			}
		}
	}
	waitLine("http: ")
	time.Sleep(300 * time.Millisecond) // the console has started
	tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if tio.Lflag&unix.ICANON == 0 || tio.Oflag&unix.OPOST == 0 {
		t.Errorf("the terminal is in raw mode (lflag %#x, oflag %#x) with stdout piped: output to it staircases", tio.Lflag, tio.Oflag)
	}
	io.WriteString(ptmx, "balance\n")
	l := waitLine("balance")
	if strings.Contains(l, "\x1b[") || strings.Contains(l, "gossipchain>") {
		t.Errorf("piped stdout got the line editor's prompt or escapes: %q", l)
	}
}
