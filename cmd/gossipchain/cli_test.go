package main

import (
	"fmt"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/gossipchain/gossipchain/api/apitest"
)

func TestVersionSubcommand(t *testing.T) {
	code, out, errOut := runCmd(t, nil, "version")
	if code != 0 || !strings.Contains(out, "gossipchain "+testVersion) || !strings.Contains(out, runtime.Version()) {
		t.Errorf("version: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

var addrLine = regexp.MustCompile(`(?m)^address: ([0-9a-f]{64})$`)

func TestWalletSubcommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	code, out, errOut := runCmd(t, nil, "wallet", "--data-dir", dir)
	m := addrLine.FindStringSubmatch(out)
	if code != 0 || m == nil || !strings.Contains(out, "created") {
		t.Fatalf("first wallet: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// Again: the same key, not created anew. By environment this time.
	code, out2, _ := runCmd(t, []string{"GOSSIPCHAIN_DATA_DIR=" + dir}, "wallet")
	m2 := addrLine.FindStringSubmatch(out2)
	if code != 0 || m2 == nil || m2[1] != m[1] || strings.Contains(out2, "created") {
		t.Fatalf("second wallet: exit %d, stdout %q, want address %s", code, out2, m[1])
	}
	if code, _, errOut := runCmd(t, nil, "wallet", "--data-dir", dir, "extra"); code != 2 || !strings.Contains(errOut, "unexpected argument") {
		t.Errorf("wallet with an argument: exit %d, stderr %q", code, errOut)
	}
}

// TestBadFlags: every bad value is a clear message on stderr and exit 2,
// before anything starts.
func TestBadFlags(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args   []string
		env    []string
		substr string
	}{
		{[]string{"--difficulty", "0"}, nil, "--difficulty 0: must be between 1 and 64"},
		{[]string{"--difficulty", "65"}, nil, "must be between 1 and 64"},
		{[]string{"--difficulty", "abc"}, nil, "difficulty"},
		{nil, []string{"GOSSIPCHAIN_DIFFICULTY=0"}, "must be between 1 and 64"},
		{nil, []string{"GOSSIPCHAIN_MDNS=maybe"}, "GOSSIPCHAIN_MDNS"},
		{[]string{"--log-level", "loud"}, nil, "--log-level"},
		{[]string{"--log-format", "xml"}, nil, "--log-format"},
		{[]string{"--miner-workers", "-1"}, nil, "--miner-workers"},
		{[]string{"-p", "99999"}, nil, "port"},
		{[]string{"--http", "127.0.0.1:1", "--port", "2"}, nil, "either"},
		{[]string{"--http", "nohostport"}, nil, "--http"},
		{[]string{"--listen", "0.0.0.0:4001"}, nil, "--listen"},
		{[]string{"--bootstrap", "/ip4/127.0.0.1/tcp/4001"}, nil, "--bootstrap"},
		{[]string{"--no-such-flag"}, nil, "no-such-flag"},
		{[]string{"frobnicate"}, nil, "unexpected argument"},
	} {
		t.Run(fmt.Sprint(c.args, c.env), func(t *testing.T) {
			// Should a case start a node after all, it stays on loopback.
			args := append([]string{"--data-dir", dir, "--http", "127.0.0.1:0"}, c.args...)
			if !slices.Contains(c.args, "--listen") {
				args = append(args, "--listen", "/ip4/127.0.0.1/tcp/0")
			}
			if !slices.ContainsFunc(c.env, func(kv string) bool { return strings.HasPrefix(kv, "GOSSIPCHAIN_MDNS=") }) {
				args = append(args, "--mdns=false")
			}
			code, out, errOut := runCmd(t, c.env, args...)
			if code != 2 || !strings.Contains(errOut, c.substr) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errOut, c.substr)
			}
			if out != "" {
				t.Errorf("printed start-up lines: %q", out)
			}
		})
	}
	// -h is not an error.
	if code, out, _ := runCmd(t, nil, "-h"); code != 0 || !strings.Contains(out, "--data-dir") && !strings.Contains(out, "-data-dir") {
		t.Errorf("-h: exit %d, stdout %q", code, out)
	}
}

func TestHealthSubcommand(t *testing.T) {
	p := startNode(t, "node", t.TempDir())
	code, out, errOut := runCmd(t, nil, "health", "--http", p.get("http"))
	if code != 0 || !strings.Contains(out, "ok") {
		t.Errorf("health of a running node: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// The address from the environment, as in a container.
	if code, _, errOut := runCmd(t, []string{"GOSSIPCHAIN_HTTP=" + p.get("http")}, "health"); code != 0 {
		t.Errorf("health by GOSSIPCHAIN_HTTP: exit %d, stderr %q", code, errOut)
	}
	closed := fmt.Sprintf("127.0.0.1:%d", apitest.ClosedPort(t))
	if code, _, errOut := runCmd(t, nil, "health", "--http", closed); code != 1 || errOut == "" {
		t.Errorf("health of nothing: exit %d, stderr %q; want 1", code, errOut)
	}
	// Docker reserves 2: a bad flag is unhealthy too.
	if code, _, _ := runCmd(t, nil, "health", "--timeout", "soon"); code != 1 {
		t.Errorf("health with a bad flag: exit %d, want 1", code)
	}
}
