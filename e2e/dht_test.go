package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// proc is a gossipchain node process started by a test, in a network
// namespace or not.
type proc struct {
	name   string
	ns     string // "" = this namespace
	cmd    *exec.Cmd
	peerID string
	addrs  []string
	http   string // host:port of its API
	mu     sync.Mutex
	log    strings.Builder // stdout and stderr
}

// startProc runs the binary with args (plus --data-dir, --console=false,
// --http 127.0.0.1:0 unless given) and waits for its start-up lines.
func startProc(t *testing.T, bin, name, ns string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, ns: ns}
	full := []string{"--data-dir", filepath.Join(t.TempDir(), name), "--console=false", "--log-level", "debug"}
	if !strings.Contains(strings.Join(args, " "), "--http") {
		full = append(full, "--http", "127.0.0.1:0")
	}
	full = append(full, args...)
	if ns != "" {
		p.cmd = exec.Command("ip", append([]string{"netns", "exec", ns, bin}, full...)...)
	} else {
		p.cmd = exec.Command(bin, full...)
	}
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	if v := os.Getenv("GOLOG_LOG_LEVEL"); v != "" {
		p.cmd.Env = append(p.cmd.Env, "GOLOG_LOG_LEVEL="+v) // libp2p's own logs
	}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stop := addTeardown(func() {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = p.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("--- %s log tail:\n%s", name, p.tail(60))
		}
	})
	go p.copy(stderr, nil)
	ready := make(chan struct{})
	go p.copy(stdout, ready)
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not start:\n%s", name, p.tail(40))
	}
	t.Logf("%s: peer %s, api %s, addrs %v", name, p.peerID, p.http, p.addrs)
	return p
}

func (p *proc) copy(r io.Reader, ready chan struct{}) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		p.mu.Lock()
		p.log.WriteString(line + "\n")
		if ready != nil {
			switch k, v, _ := strings.Cut(line, ": "); k {
			case "peer_id":
				p.peerID = v
			case "addr":
				p.addrs = append(p.addrs, v)
			case "http":
				p.http = v
				close(ready)
				ready = nil
			}
		}
		p.mu.Unlock()
	}
}

func (p *proc) tail(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	lines := strings.Split(strings.TrimRight(p.log.String(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// api sends a request to the node's API (through curl inside its
// namespace) and decodes the JSON reply into v.
func (p *proc) api(method, path string, v any) error {
	url := "http://" + p.http + path
	var body []byte
	if p.ns == "" {
		req, _ := http.NewRequest(method, url, nil)
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if body, err = io.ReadAll(resp.Body); err != nil {
			return err
		}
	} else {
		out, err := exec.Command("ip", "netns", "exec", p.ns, "curl", "-sS", "-m", "10", "-X", method, url).Output()
		if err != nil {
			return fmt.Errorf("curl %s: %w", url, err)
		}
		body = out
	}
	if v == nil {
		return nil
	}
	return json.Unmarshal(body, v)
}

type peersReply struct {
	Peers []struct {
		ID         string `json:"id"`
		Connection string `json:"connection"`
		Index      uint64 `json:"index"`
	} `json:"peers"`
}

type statusReply struct {
	Index        uint64   `json:"index"`
	Head         string   `json:"head"`
	Peers        int      `json:"peers"`
	OtherPeers   int      `json:"other_peers"`
	Reachability string   `json:"reachability"`
	RelayAddrs   []string `json:"relay_addrs"`
}

// connectionTo is how p is connected to the chain peer id: "direct",
// "relayed" or "" (not a chain peer).
func (p *proc) connectionTo(id string) string {
	var r peersReply
	if err := p.api("GET", "/peers", &r); err != nil {
		return ""
	}
	for _, x := range r.Peers {
		if x.ID == id {
			return x.Connection
		}
	}
	return ""
}

func (p *proc) status(t *testing.T) statusReply {
	var s statusReply
	if err := p.api("GET", "/status", &s); err != nil {
		t.Logf("%s status: %v", p.name, err)
	}
	return s
}

// TestDHTViaOtherNetwork: two nodes whose only bootstrap peer is a node
// of another network (another --difficulty, so another genesis) find each
// other through the DHT, and the other network's node is never their
// chain peer. On loopback, with mDNS off: no root needed.
func TestDHTViaOtherNetwork(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the DHT test")
	}
	bin := gossipchainBinary(t)
	listen := "/ip4/127.0.0.1/tcp/0,/ip4/127.0.0.1/udp/0/quic-v1"
	other := startProc(t, bin, "other", "", "--listen", listen, "--mdns=false", "--difficulty", "9")
	boot := other.addrs[0]
	a := startProc(t, bin, "a", "", "--listen", listen, "--mdns=false", "--difficulty", "8", "--bootstrap", boot)
	b := startProc(t, bin, "b", "", "--listen", listen, "--mdns=false", "--difficulty", "8", "--bootstrap", boot)
	waitFor(t, 90*time.Second, "a and b to find each other through the DHT", func() (bool, string) {
		ca, cb := a.connectionTo(b.peerID), b.connectionTo(a.peerID)
		return ca != "" && cb != "", fmt.Sprintf("a→b %q, b→a %q", ca, cb)
	})
	// The other network's node: still connected (the DHT keeps it), never
	// a chain peer.
	sa := a.status(t)
	if sa.Peers != 1 {
		t.Errorf("a counts %d chain peers, want 1 (b)", sa.Peers)
	}
	if a.connectionTo(other.peerID) != "" {
		t.Errorf("a lists the other network's node as a chain peer")
	}
	t.Logf("a: %d chain peers, %d other libp2p peers, reachability %s", sa.Peers, sa.OtherPeers, sa.Reachability)
	// Chain traffic: a block mined on a reaches b.
	if err := a.api("POST", "/mine", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "a's block to reach b", func() (bool, string) {
		ia, ib := a.status(t).Index, b.status(t).Index
		return ia > 0 && ib == ia, fmt.Sprintf("a at %d, b at %d", ia, ib)
	})
	if strings.Contains(a.tail(10000), "dropping peer of another network") {
		t.Errorf("a dropped the other network's DHT node")
	}
}

// grep returns the log lines containing s.
func (p *proc) grep(s string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, l := range strings.Split(p.log.String(), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
