package chaos

import (
	"bytes"
	"context"
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
	"time"

	"github.com/gossipchain/gossipchain/e2e/powercut"
	"github.com/gossipchain/gossipchain/node"
)

const httpPort = 5000

// proc is one node: its namespace, data directory (on its own disk) and
// the running process, if any.
type proc struct {
	i    int
	h    *Harness
	dir  string
	disk *disk
	// power is the node's data directory's file system when power cuts
	// are on (its backing directory is on disk); nil otherwise.
	power  *powercut.FS
	miner  bool
	peerID string
	client *http.Client

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	offset time.Duration // clock skew of the running process
	starts int
}

func (p *proc) base() string { return fmt.Sprintf("http://127.0.0.1:%d", httpPort) }

// powerMount is where the node's powercut file system is mounted; its
// backing directory is powerBacking, on the node's disk.
func (p *proc) powerMount() string   { return p.dir + "-power" }
func (p *proc) powerBacking() string { return filepath.Join(p.dir, "store") }

// dataDir is the node's --data-dir.
func (p *proc) dataDir() string {
	if p.power != nil {
		return filepath.Join(p.powerMount(), "data")
	}
	return filepath.Join(p.dir, "data")
}

func (p *proc) logPath() string { return filepath.Join(p.h.cfg.OutDir, fmt.Sprintf("node%d.log", p.i)) }

// start runs the binary in the node's namespace with the given clock skew.
func (p *proc) start(offset time.Duration) error {
	p.h.mu.Lock()
	closed := p.h.closed
	p.h.mu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if closed {
		// An interrupted run's teardown killed the nodes while the run
		// went on healing: a node started now would outlive the test.
		return fmt.Errorf("node %d: the harness is cleaned up", p.i)
	}
	if p.cmd != nil {
		return fmt.Errorf("node %d already running", p.i)
	}
	args := []string{
		"--data-dir", p.dataDir(),
		"--http", fmt.Sprintf("127.0.0.1:%d", httpPort),
		"--listen", "/ip4/0.0.0.0/tcp/4001",
		"--mdns=false", "--console=false",
		"--identity-seed", p.seed(),
		"--difficulty", fmt.Sprint(p.h.cfg.Difficulty),
		"--miner-workers", "1",
		"--log-format", "text",
	}
	for j := 1; j <= p.h.cfg.Nodes; j++ {
		if j != p.i {
			args = append(args, "--bootstrap", fmt.Sprintf("/ip4/%s/tcp/4001/p2p/%s", nodeIP(j), p.h.procs[j-1].peerID))
		}
	}
	if p.miner {
		args = append(args, "--mine")
	}
	logf, err := os.OpenFile(p.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "=== chaos: start %d at %s, clock offset %v\n", p.starts+1, time.Now().Format(time.RFC3339Nano), offset)
	cmd := exec.Command(p.h.cfg.Bin, args...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + p.dir}
	if offset != 0 {
		cmd.Env = append(cmd.Env, "GOSSIPCHAIN_CLOCK_OFFSET="+offset.String())
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	// No Pdeathsig: it fires when the parent *thread* ends, and
	// startInNS forks from a thread that ends at once.
	if err := startInNS(cmd, p.h.net.nsPath(p.i)); err != nil {
		logf.Close()
		return err
	}
	p.cmd, p.offset, p.exited = cmd, offset, make(chan struct{})
	p.starts++
	exited := p.exited
	go func() {
		cmd.Wait()
		logf.Close()
		close(exited)
	}()
	return nil
}

func (p *proc) seed() string { return fmt.Sprintf("%s-node-%d", p.h.cfg.Prefix, p.i) }

func (p *proc) running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil
}

// stop sends sig and waits for the exit (SIGKILL after 15 s).
func (p *proc) stop(sig syscall.Signal) {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.cmd = nil
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(sig)
	select {
	case <-exited:
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
}

// restart stops the node (SIGKILL or SIGTERM) and starts it with offset.
func (p *proc) restart(sig syscall.Signal, offset time.Duration) error {
	p.stop(sig)
	return p.start(offset)
}

func (p *proc) get(ctx context.Context, path string, v any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", p.base()+path, nil)
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, bytes.TrimSpace(b))
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// post sends a JSON body; it returns the status code and body.
func (p *proc) post(ctx context.Context, path string, body any) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequestWithContext(ctx, "POST", p.base()+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, rb, nil
}

type status struct {
	PeerID  string `json:"peer_id"`
	Address string `json:"address"`
	Index   uint64 `json:"index"`
	Head    string `json:"head"`
	Peers   int    `json:"peers"`
	Mempool int    `json:"mempool"`
	// ParkedAcked: transactions the node acknowledged that wait to
	// become admissible (a nonce gap, funds not mined yet).
	ParkedAcked int `json:"parked_acknowledged"`
}

func (p *proc) status(ctx context.Context) (*status, error) {
	var st status
	if err := p.get(ctx, "/status", &st); err != nil {
		return nil, err
	}
	return &st, nil
}

// peerIDFromSeed is the peer ID --identity-seed gives.
func peerIDFromSeed(seed string) (string, error) {
	key, err := node.IdentityFromSeed(seed)
	if err != nil {
		return "", err
	}
	return peerIDOf(key)
}

// scanLog reports lines that say a process crashed.
func scanLog(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return []string{err.Error()}
	}
	var bad []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "panic:") || strings.HasPrefix(l, "fatal error:") || strings.Contains(l, "SIGSEGV") || strings.Contains(l, "SIGBUS") || strings.Contains(l, "DATA RACE") {
			bad = append(bad, l)
		}
	}
	return bad
}
