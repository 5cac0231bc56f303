// Package e2e tests gossipchain end to end, as an operator would: the
// docker-compose cluster (docker-compose.yml at the repository root) over its
// published HTTP ports and the docker CLI, and the LAN demo script
// (demo/lan.sh) in network namespaces.
//
// The binary is built once per run (static, CGO off), the image from the
// repository's Dockerfile around it. Every cluster gets a project name and
// image tag of its own, and is torn down (compose down -v) at the end, also
// when a test fails, the run is interrupted or the test timeout is near.
//
// Without docker (or a compose command) the cluster tests are skipped with
// a message, unless CI=true: then they fail, since CI has docker. Without
// root or iproute2 the LAN test is skipped. -short skips everything here.
//
//	go test -v -count=1 ./e2e/        # or: make e2e
package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// run-wide state, set up by TestMain.
var (
	repoRoot string // the repository (parent of e2e/)
	workDir  string // temporary; removed at the end of the run

	buildOnce sync.Once
	binPath   string // the static gossipchain binary, in workDir/context/bin
	buildErr  error

	helperOnce sync.Once
	helperPath string // static HTTP helper run inside containers (see helper.go's source)
	helperErr  error

	teardownMu sync.Mutex
	teardownFn = map[int]func(){} // still to run, by registration number
	teardownN  int
)

func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	root, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	repoRoot = root
	if workDir, err = os.MkdirTemp("", "gossipchain-e2e-"); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(workDir)

	// Ctrl-C or SIGTERM kills the test binary without its cleanups: tear
	// the clusters down first.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		s, ok := <-sigs
		if !ok {
			return
		}
		fmt.Fprintf(os.Stderr, "e2e: %v: tearing down\n", s)
		runTeardowns()
		os.RemoveAll(workDir)
		os.Exit(1)
	}()
	// So does the -timeout panic: tear down shortly before it.
	if f := flag.Lookup("test.timeout"); f != nil {
		if g, ok := f.Value.(flag.Getter); ok {
			if d, ok := g.Get().(time.Duration); ok && d > 2*time.Minute {
				timer := time.AfterFunc(d-time.Minute, func() {
					fmt.Fprintln(os.Stderr, "e2e: the test timeout is near: tearing down")
					runTeardowns()
				})
				defer timer.Stop()
			}
		}
	}
	defer runTeardowns()
	return m.Run()
}

// addTeardown registers fn to run once, at the latest when the run ends (or
// is interrupted); the returned func runs it now (and unregisters it).
func addTeardown(fn func()) (runNow func()) {
	teardownMu.Lock()
	defer teardownMu.Unlock()
	teardownN++
	id := teardownN
	var once sync.Once
	wrapped := func() { once.Do(fn) }
	teardownFn[id] = wrapped
	return func() {
		teardownMu.Lock()
		delete(teardownFn, id)
		teardownMu.Unlock()
		wrapped()
	}
}

func runTeardowns() {
	teardownMu.Lock()
	fns := make([]func(), 0, len(teardownFn))
	for id, fn := range teardownFn {
		fns = append(fns, fn)
		delete(teardownFn, id)
	}
	teardownMu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// inCI reports whether we run in CI, where a missing tool is a failure.
func inCI() bool { return os.Getenv("CI") == "true" }

// requirement skips the test for a missing tool, or fails it in CI.
func requirement(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if inCI() {
		t.Fatalf("%s (CI=true: the end-to-end tests must run here)", msg)
	}
	t.Skipf("%s: skipping (set CI=true to make this a failure)", msg)
}

// goBuild builds a static binary (CGO off, as for the scratch image).
func goBuild(dir, out string, extraEnv []string, args ...string) error {
	cmd := exec.Command("go", append([]string{"build", "-trimpath", "-o", out}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS="+withoutRace(os.Getenv("GOFLAGS")))
	cmd.Env = append(cmd.Env, extraEnv...)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, b)
	}
	return nil
}

// withoutRace drops -race from GOFLAGS: it needs cgo, which is off.
func withoutRace(goflags string) string {
	var keep []string
	for _, f := range strings.Fields(goflags) {
		if f != "-race" && f != "--race" {
			keep = append(keep, f)
		}
	}
	return strings.Join(keep, " ")
}

// gossipchainBinary builds ./cmd/gossipchain once per run, as `make build`
// does, into the directory that is also the image's build context.
func gossipchainBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		start := time.Now()
		out := filepath.Join(workDir, "context", "bin", "gossipchain")
		if buildErr = goBuild(repoRoot, out, nil, "-ldflags", "-s -w -X main.version=e2e", "./cmd/gossipchain"); buildErr != nil {
			return
		}
		if buildErr = os.MkdirAll(filepath.Join(workDir, "context", "bin", "empty"), 0o755); buildErr != nil {
			return
		}
		binPath = out
		t.Logf("built %s in %v", out, time.Since(start).Round(time.Millisecond))
	})
	if buildErr != nil {
		t.Fatalf("building the binary: %v", buildErr)
	}
	return binPath
}

// runCmd runs a command with a deadline and returns its combined output.
func runCmd(timeout time.Duration, env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v: %w", timeout, ctx.Err())
	}
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// waitFor polls cond every half second until it holds, and fails the test
// with what cond last said once timeout (or the test's own deadline) is up.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	if d, ok := t.Deadline(); ok && d.Add(-90*time.Second).Before(deadline) {
		deadline = d.Add(-90 * time.Second) // leave time for the teardown
	}
	for {
		ok, detail := cond()
		if ok {
			t.Logf("ok (%v): %s", time.Since(start).Round(100*time.Millisecond), what)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last: %s", time.Since(start).Round(time.Second), what, detail)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
