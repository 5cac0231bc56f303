package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// readmeBlock returns the first ```sh block after marker in README.md, and
// checks that it ends before endMarker when one is given.
func readmeBlock(t *testing.T, readme, marker, endMarker string) string {
	t.Helper()
	_, after, ok := strings.Cut(readme, marker)
	if !ok {
		t.Fatalf("README.md has no %q marker", marker)
	}
	if endMarker != "" {
		var found bool
		if after, _, found = strings.Cut(after, endMarker); !found {
			t.Fatalf("README.md has no %q after %q", endMarker, marker)
		}
	}
	_, body, ok := strings.Cut(after, "```sh\n")
	if !ok {
		t.Fatalf("no ```sh block after %q", marker)
	}
	body, _, ok = strings.Cut(body, "```")
	if !ok {
		t.Fatalf("unterminated ```sh block after %q", marker)
	}
	return body
}

// TestReadmeSendWalkthrough runs the README's "Send coins from your own
// wallet" as written: the node command between its marker and the client
// commands between send-walkthrough:begin and :end. Only where things live
// is changed, by environment: the node's data directory (the walkthrough's
// ./gossipchain-data, in a temporary directory that is the commands'
// working directory), its ports (the API on a free port, which
// GOSSIPCHAIN_NODE and the curl line's localhost:5000 are pointed at), no
// mDNS, and `gossipchain` on PATH is the binary under test. The harness
// waits for the node's first coins where a reader would.
func TestReadmeSendWalkthrough(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("needs bash")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("needs curl")
	}
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	nodeCmd := strings.Fields(strings.TrimSpace(readmeBlock(t, readme, "<!-- send-walkthrough:node -->", "")))
	if len(nodeCmd) == 0 || nodeCmd[0] != "gossipchain" {
		t.Fatalf("node command %q: want it to start with gossipchain", nodeCmd)
	}
	script := readmeBlock(t, readme, "<!-- send-walkthrough:begin -->", "<!-- send-walkthrough:end -->")

	dir := t.TempDir()
	p := startProc(t, "node", filepath.Join(dir, "gossipchain-data"), []string{
		"GOSSIPCHAIN_DATA_DIR=" + filepath.Join(dir, "gossipchain-data"),
		"GOSSIPCHAIN_HTTP=127.0.0.1:0",
		"GOSSIPCHAIN_LISTEN=/ip4/127.0.0.1/tcp/0",
		"GOSSIPCHAIN_MDNS=false",
		"GOSSIPCHAIN_CONSOLE=false",
		"GOSSIPCHAIN_MINER_WORKERS=1",
	}, nil, nodeCmd[1:]...)
	api := p.get("http")
	waitFor(t, "the node's first coins", 2*time.Minute, func() bool { return balanceOf(t, p, p.get("wallet")).Balance >= 50 })

	script = strings.NewReplacer("localhost:5000", api, "127.0.0.1:5000", api).Replace(script)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", script)
	cmd.Dir = dir
	cmd.Env = cleanEnv("PATH="+filepath.Dir(binPath)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"GOSSIPCHAIN_NODE=http://"+api)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("the walkthrough failed: %v\noutput:\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{"balance: 10\n", "nonce: 0\n", "created: alice.key", "Transaction will be added to Block"} {
		if !strings.Contains(got, want) {
			t.Errorf("walkthrough output lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "\nblock: "); n != 2 {
		t.Errorf("walkthrough printed %d block lines, want one per send --wait:\n%s", n, got)
	}
	if t.Failed() {
		return
	}
	_, afterNew, _ := strings.Cut(got, "created: alice.key")
	alice := field(t, afterNew, "address") // the line wallet new printed
	// 10 in, 3 + fee 1 back, then the offline-signed 1 once it is mined.
	waitFor(t, "the offline-signed transaction in a block", time.Minute, func() bool {
		b := balanceOf(t, p, alice)
		return b.Balance == 5 && b.Nonce == 2
	})
}
