package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// node1's identity seed is "node1" in docker-compose.yml; this is its peer ID
// (node.IdentityFromSeed), which node2 and node3 name in --bootstrap.
const node1PeerID = "12D3KooWQaLpHhbFoTgLwcqeo5WkFdLSKByEf91XJ2QjWSwuA1pW"

var services = []string{"node1", "node2", "node3", "node4"}

// cluster is one docker-compose project started from the repository's
// docker-compose.yml, with its own project name, image tag and host ports
// chosen by Docker (so runs in parallel, and a cluster the developer has up
// on 5001..5004, do not collide).
type cluster struct {
	project string
	image   string
	env     []string          // for the compose command
	ids     map[string]string // service → container ID (stable across restarts)
	network string            // the compose network's name
	client  *http.Client
	token   string // the APIs' bearer token (GOSSIPCHAIN_CLUSTER_HTTP_TOKEN)

	mu      sync.Mutex
	ports   map[string]string // service → published host:port, looked up lazily
	viaExec map[string]bool   // service → reach its API through docker exec
}

// TestCluster brings the compose cluster up once and runs the operator's
// checks against it in order.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the docker-compose end-to-end tests")
	}
	start := time.Now()
	c := startCluster(t)
	t.Logf("cluster %s up and healthy in %v", c.project, time.Since(start).Round(time.Second))

	steps := []struct {
		name string
		fn   func(*testing.T)
	}{
		{"APIAccess", c.testAPIAccess},
		{"Converge", c.testConverge},
		{"MDNSOnlyNode", c.testMDNSOnly},
		{"Dashboard", c.testDashboard},
		{"PartitionHeal", c.testPartitionHeal},
		{"Crash", c.testCrash},
		{"ScalePeers", c.testScalePeers},
	}
	for _, s := range steps {
		st := time.Now()
		t.Run(s.name, s.fn)
		t.Logf("%s took %v", s.name, time.Since(st).Round(time.Second))
	}
}

// ---------------------------------------------------------------- set-up

func requireDocker(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		requirement(t, "docker is not installed")
	}
	if out, err := runCmd(30*time.Second, nil, "docker", "version", "--format", "{{.Server.Version}}"); err != nil {
		requirement(t, "the docker daemon does not answer: %v", err)
	} else {
		t.Logf("docker engine %s", strings.TrimSpace(out))
	}
	out, err := runCmd(30*time.Second, nil, filepath.Join(repoRoot, "scripts", "compose.sh"), "version")
	if err != nil {
		requirement(t, "no compose command (neither `docker compose` nor `docker-compose`): %v", err)
	}
	t.Logf("compose: %s", firstLine(out))
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	requireDocker(t)
	bin := gossipchainBinary(t)
	ctxDir := filepath.Dir(filepath.Dir(bin)) // workDir/context, holding bin/
	for _, f := range []string{"Dockerfile", ".dockerignore"} {
		b, err := os.ReadFile(filepath.Join(repoRoot, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(ctxDir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	suffix := randSuffix()
	c := &cluster{
		project: "gce2e" + suffix,
		image:   "gossipchain-e2e:" + suffix,
		ids:     map[string]string{},
		ports:   map[string]string{},
		viaExec: map[string]bool{},
		client:  &http.Client{Timeout: 150 * time.Second},
		token:   "e2e-token-" + randSuffix() + randSuffix(),
	}
	c.env = append(os.Environ(), "GOSSIPCHAIN_IMAGE="+c.image, "GOSSIPCHAIN_CLUSTER_HTTP_TOKEN="+c.token)
	for i := range services {
		// Empty: Docker picks a free host port (127.0.0.1::5000).
		c.env = append(c.env, fmt.Sprintf("GOSSIPCHAIN_NODE%d_PORT=", i+1))
	}

	// Tear down at the end, also on failure, interruption or timeout.
	teardown := addTeardown(func() { c.down(t) })
	t.Cleanup(teardown)

	st := time.Now()
	if _, err := runCmd(5*time.Minute, nil, "docker", "build", "-q", "--build-arg", "VERSION=e2e", "-t", c.image, ctxDir); err != nil {
		t.Fatalf("docker build: %v", err)
	}
	t.Logf("built image %s from the repository's Dockerfile in %v", c.image, time.Since(st).Round(100*time.Millisecond))
	c.checkImage(t)

	st = time.Now()
	// The four by name, as make cluster-up: "peer" is only for --scale.
	if _, err := c.compose(5*time.Minute, append([]string{"up", "-d", "--no-build"}, services...)...); err != nil {
		t.Fatalf("compose up: %v", err)
	}
	t.Logf("compose up -d: %v", time.Since(st).Round(100*time.Millisecond))
	for _, s := range services {
		out, err := c.compose(time.Minute, "ps", "-q", s)
		if err != nil || strings.TrimSpace(out) == "" {
			t.Fatalf("compose ps -q %s: %q %v", s, out, err)
		}
		c.ids[s] = firstLine(out)
	}
	out, err := runCmd(30*time.Second, nil, "docker", "inspect", "-f", `{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}`, c.ids["node1"])
	if err != nil {
		t.Fatal(err)
	}
	if nets := strings.Fields(out); len(nets) != 1 {
		t.Fatalf("node1 is on networks %q, want exactly one", nets)
	} else {
		c.network = nets[0]
	}

	for _, s := range services {
		waitFor(t, 90*time.Second, s+" answers GET /health on its published port", func() (bool, string) {
			code, body, err := c.do(s, "GET", "/health", nil)
			if err != nil {
				return false, err.Error()
			}
			return code == 200, fmt.Sprintf("%d %s", code, body)
		})
	}
	// The health check in the image runs the binary itself.
	waitFor(t, 90*time.Second, "docker reports every container healthy (HEALTHCHECK: gossipchain health)", func() (bool, string) {
		var states []string
		all := true
		for _, s := range services {
			out, err := runCmd(30*time.Second, nil, "docker", "inspect", "-f", "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}", c.ids[s])
			if err != nil {
				return false, err.Error()
			}
			h := strings.TrimSpace(out)
			states = append(states, s+"="+h)
			all = all && h == "healthy"
		}
		return all, strings.Join(states, " ")
	})

	st1 := c.status(t, "node1")
	if st1.PeerID != node1PeerID {
		t.Fatalf("node1's peer ID is %s, want %s (derived from GOSSIPCHAIN_IDENTITY_SEED=node1): "+
			"without it node2 and node3 cannot bootstrap from /dns4/node1/tcp/4001/p2p/%s", st1.PeerID, node1PeerID, node1PeerID)
	}
	return c
}

// checkImage checks the image is what the Dockerfile promises.
func (c *cluster) checkImage(t *testing.T) {
	t.Helper()
	out, err := runCmd(30*time.Second, nil, "docker", "image", "inspect", "-f",
		`{{.Config.User}}|{{json .Config.Entrypoint}}|{{json .Config.Healthcheck.Test}}|{{len .RootFS.Layers}}`, c.image)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(strings.TrimSpace(out), "|")
	if len(parts) != 4 {
		t.Fatalf("docker image inspect: %q", out)
	}
	if parts[0] == "" || parts[0] == "root" || parts[0] == "0" || strings.HasPrefix(parts[0], "0:") {
		t.Errorf("image user is %q, want a non-root user", parts[0])
	}
	if !strings.Contains(parts[2], "gossipchain") || !strings.Contains(parts[2], "health") {
		t.Errorf("image health check is %s, want the binary's health subcommand", parts[2])
	}
	t.Logf("image: user %s, entrypoint %s, healthcheck %s, %s layers", parts[0], parts[1], parts[2], parts[3])
}

// down removes the project: containers, network, volumes; then the image.
func (c *cluster) down(t *testing.T) {
	if t.Failed() {
		if out, err := c.compose(time.Minute, "logs", "--no-color", "--tail", "60"); err == nil {
			t.Logf("last log lines of the cluster:\n%s", out)
		}
	}
	if _, err := c.compose(3*time.Minute, "down", "-v", "--remove-orphans", "-t", "5"); err != nil {
		t.Errorf("compose down: %v", err)
	}
	if _, err := runCmd(time.Minute, nil, "docker", "rmi", "-f", c.image); err != nil {
		t.Logf("docker rmi: %v", err)
	}
	// Nothing of the project may be left.
	out, _ := runCmd(30*time.Second, nil, "docker", "ps", "-aq", "--filter", "label=com.docker.compose.project="+c.project)
	vols, _ := runCmd(30*time.Second, nil, "docker", "volume", "ls", "-q", "--filter", "label=com.docker.compose.project="+c.project)
	if strings.TrimSpace(out+vols) != "" {
		t.Errorf("left behind after compose down: containers %q volumes %q", out, vols)
	}
}

func (c *cluster) compose(timeout time.Duration, args ...string) (string, error) {
	return runCmd(timeout, c.env, filepath.Join(repoRoot, "scripts", "compose.sh"), append([]string{"-p", c.project}, args...)...)
}

func (c *cluster) docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runCmd(2*time.Minute, nil, "docker", args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// ---------------------------------------------------------------- the API

// status is GET /status.
type status struct {
	PeerID   string   `json:"peer_id"`
	Addrs    []string `json:"addrs"`
	Address  string   `json:"address"`
	Index    uint64   `json:"index"`
	Head     string   `json:"head"`
	Peers    int      `json:"peers"`
	Mempool  int      `json:"mempool"`
	Mining   bool     `json:"mining"`
	HashRate float64  `json:"hashrate"`
	Work     string   `json:"work"`
}

func (s status) work() *big.Int {
	w, ok := new(big.Int).SetString(s.Work, 10)
	if !ok {
		return new(big.Int)
	}
	return w
}

func (s status) String() string { return fmt.Sprintf("%d@%.12s", s.Index, s.Head) }

type txJSON struct {
	ID        string `json:"id"`
	Sender    string `json:"sender"`
	Recipient string `json:"recipient"`
	Amount    uint64 `json:"amount"`
}

type blockJSON struct {
	Index        uint64   `json:"index"`
	Hash         string   `json:"hash"`
	PreviousHash string   `json:"previous_hash"`
	Transactions []txJSON `json:"transactions"`
	MainChain    bool     `json:"main_chain"`
}

// hostPort is the host address the service's API is published on. A
// container that is restarted or reconnected gets a new port from Docker:
// forgetPort makes the next call look it up again.
func (c *cluster) hostPort(svc string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.ports[svc]; p != "" {
		return p, nil
	}
	out, err := runCmd(30*time.Second, nil, "docker", "port", c.ids[svc], "5000/tcp")
	if err != nil {
		return "", err
	}
	p := firstLine(out)
	if p == "" {
		return "", fmt.Errorf("%s: no published port yet", svc)
	}
	c.ports[svc] = p
	return p, nil
}

func (c *cluster) forgetPort(svc string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.ports, svc)
}

func (c *cluster) setViaExec(svc string, on bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.viaExec[svc] = on
	delete(c.ports, svc)
}

// do calls the service's API: over its published port, or with docker
// exec and the helper while it is cut off from the network.
func (c *cluster) do(svc, method, path string, body any) (int, []byte, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return 0, nil, err
		}
	}
	c.mu.Lock()
	viaExec := c.viaExec[svc]
	c.mu.Unlock()
	if viaExec {
		args := []string{"exec", c.ids[svc], "/e2e-http", method, path}
		if payload != nil {
			args = append(args, string(payload))
		}
		out, err := runCmd(3*time.Minute, nil, "docker", args...)
		if err != nil {
			return 0, nil, err
		}
		code, rest, _ := strings.Cut(out, "\n")
		n, err := strconv.Atoi(code)
		if err != nil {
			return 0, nil, fmt.Errorf("helper output %q", out)
		}
		return n, []byte(rest), nil
	}

	hp, err := c.hostPort(svc)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequest(method, "http://"+hp+path, bytes.NewReader(payload))
	if err != nil {
		return 0, nil, err
	}
	if payload != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.client.Do(req)
	if err != nil {
		c.forgetPort(svc) // restarted or reconnected: look the port up again
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// call is do for a request that must answer wantCode; it decodes into out.
func (c *cluster) call(svc, method, path string, body any, wantCode int, out any) error {
	code, b, err := c.do(svc, method, path, body)
	if err != nil {
		return fmt.Errorf("%s %s %s: %w", svc, method, path, err)
	}
	if code != wantCode {
		return fmt.Errorf("%s %s %s: %d %s", svc, method, path, code, bytes.TrimSpace(b))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s %s: %v in %s", svc, method, path, err, b)
		}
	}
	return nil
}

func (c *cluster) tryStatus(svc string) (status, error) {
	var s status
	err := c.call(svc, "GET", "/status", nil, 200, &s)
	return s, err
}

func (c *cluster) status(t *testing.T, svc string) status {
	t.Helper()
	s, err := c.tryStatus(svc)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// mine is POST /mine: one block now, with the pending transactions.
func (c *cluster) mine(t *testing.T, svc string) blockJSON {
	t.Helper()
	var b blockJSON
	if err := c.call(svc, "POST", "/mine", nil, 200, &b); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s mined block %d %.16s (%d txs)", svc, b.Index, b.Hash, len(b.Transactions))
	return b
}

// send is POST /transactions/new from the node's own wallet.
func (c *cluster) send(t *testing.T, svc, to string, amount uint64) string {
	t.Helper()
	var r struct {
		Message string `json:"message"`
		ID      string `json:"id"`
	}
	if err := c.call(svc, "POST", "/transactions/new", map[string]any{"recipient": to, "amount": amount}, 201, &r); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %q (tx %.16s: %d coins to %.16s)", svc, r.Message, r.ID, amount, to)
	return r.ID
}

func (c *cluster) balance(svc, addr string) (uint64, error) {
	var r struct {
		Balance uint64 `json:"balance"`
	}
	err := c.call(svc, "GET", "/balance/"+addr, nil, 200, &r)
	return r.Balance, err
}

func (c *cluster) block(svc, id string) (blockJSON, error) {
	var b blockJSON
	err := c.call(svc, "GET", "/blocks/"+id, nil, 200, &b)
	return b, err
}

// findTx looks for the transaction in svc's main chain from index from on.
func (c *cluster) findTx(svc, id string, from uint64) (blockJSON, bool, error) {
	s, err := c.tryStatus(svc)
	if err != nil {
		return blockJSON{}, false, err
	}
	for i := from; i <= s.Index; i++ {
		b, err := c.block(svc, strconv.FormatUint(i, 10))
		if err != nil {
			return blockJSON{}, false, err
		}
		for _, tx := range b.Transactions {
			if tx.ID == id {
				return b, true, nil
			}
		}
	}
	return blockJSON{}, false, nil
}

func (c *cluster) pending(svc, id string) (bool, error) {
	var r struct {
		Transactions []txJSON `json:"transactions"`
	}
	if err := c.call(svc, "GET", "/transactions/pending", nil, 200, &r); err != nil {
		return false, err
	}
	for _, tx := range r.Transactions {
		if tx.ID == id {
			return true, nil
		}
	}
	return false, nil
}

// sameHead reports whether all the services report one head.
func (c *cluster) sameHead(svcs ...string) (bool, map[string]status, string) {
	sts := map[string]status{}
	var parts []string
	same := true
	for _, s := range svcs {
		st, err := c.tryStatus(s)
		if err != nil {
			return false, nil, err.Error()
		}
		sts[s] = st
		parts = append(parts, fmt.Sprintf("%s %v (%d peers)", s, st, st.Peers))
		same = same && st.Head == sts[svcs[0]].Head
	}
	return same, sts, strings.Join(parts, ", ")
}

// waitConverged waits until every node reports the same head, at index
// minIndex or later, and returns it.
func (c *cluster) waitConverged(t *testing.T, timeout time.Duration, minIndex uint64) status {
	t.Helper()
	var head status
	waitFor(t, timeout, fmt.Sprintf("all four nodes to report the same head, index >= %d", minIndex), func() (bool, string) {
		same, sts, detail := c.sameHead(services...)
		if !same || sts["node1"].Index < minIndex {
			return false, detail
		}
		head = sts["node1"]
		return true, detail
	})
	t.Logf("converged on %v", head)
	return head
}

// ensureFunded makes sure svc's wallet holds at least min coins, as seen by
// node1 too, by mining on svc and waiting until that block is buried.
func (c *cluster) ensureFunded(t *testing.T, svc string, min uint64) {
	t.Helper()
	addr := c.status(t, svc).Address
	for attempt := 0; ; attempt++ {
		own, err1 := c.balance(svc, addr)
		seen, err2 := c.balance("node1", addr)
		if err1 == nil && err2 == nil && own >= min && seen >= min {
			t.Logf("%s's wallet holds %d coins (node1 agrees: %d)", svc, own, seen)
			return
		}
		if attempt == 5 {
			t.Fatalf("could not fund %s's wallet with %d coins: it holds %d (%v), node1 says %d (%v)", svc, min, own, err1, seen, err2)
		}
		b := c.mine(t, svc)
		// Two blocks on top on node1: the coinbase will not be reorged away.
		waitFor(t, 2*time.Minute, fmt.Sprintf("%s's block %d to be buried two deep on node1", svc, b.Index), func() (bool, string) {
			s, err := c.tryStatus("node1")
			if err != nil {
				return false, err.Error()
			}
			return s.Index >= b.Index+2, fmt.Sprintf("node1 at %v", s)
		})
		if got, err := c.block("node1", b.Hash); err != nil || !got.MainChain {
			t.Logf("%s's block %d is not on node1's main chain (%v): mining again", svc, b.Index, err)
		}
	}
}

// ---------------------------------------------------------------- tests

// testConverge: a transaction sent through node2's API is mined, and every
// node reports the same head.
// testAPIAccess: the APIs listen on 0.0.0.0 in their containers, so they
// want the cluster's token except on /health and /status; no web page may
// use them; a node registers another by its service name (the Host header
// the compose file allows through GOSSIPCHAIN_HTTP_VHOSTS).
func (c *cluster) testAPIAccess(t *testing.T) {
	hp, err := c.hostPort("node1")
	if err != nil {
		t.Fatal(err)
	}
	ask := func(method, path string, hdr map[string]string, body string) (int, string) {
		req, err := http.NewRequest(method, "http://"+hp+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	bearer := "Bearer " + c.token
	for _, x := range []struct {
		method, path string
		hdr          map[string]string
		body         string
		want         int
	}{
		{"GET", "/chain", nil, "", 401},
		{"GET", "/mine", map[string]string{"Authorization": "Bearer gossipchain-demo-token-not-a-secret"}, "", 401},
		{"GET", "/status", nil, "", 200},
		{"GET", "/health", nil, "", 200},
		{"POST", "/transactions/new", map[string]string{"Authorization": bearer, "Content-Type": "text/plain", "Origin": "http://evil.example"}, `{"recipient":"00","amount":1}`, 403},
		{"GET", "/mine", map[string]string{"Authorization": bearer, "Sec-Fetch-Site": "cross-site"}, "", 403},
	} {
		if code, body := ask(x.method, x.path, x.hdr, x.body); code != x.want {
			t.Errorf("node1 %s %s %v: %d %s, want %d", x.method, x.path, x.hdr, code, body, x.want)
		}
	}
	var reg struct {
		TotalNodes []string `json:"total_nodes"`
	}
	if err := c.call("node2", "POST", "/nodes/register", map[string]any{"nodes": []string{"http://node1:5000"}}, 201, &reg); err != nil {
		t.Fatalf("node2 registers http://node1:5000: %v", err)
	}
	if !slices.Contains(reg.TotalNodes, node1PeerID) {
		t.Errorf("node2's peers after registering http://node1:5000: %q, want node1 %s among them", reg.TotalNodes, node1PeerID)
	}
}

func (c *cluster) testConverge(t *testing.T) {
	recipient := c.status(t, "node4").Address
	c.ensureFunded(t, "node2", 10)
	from := c.status(t, "node1").Index
	id := c.send(t, "node2", recipient, 7)

	var mined blockJSON
	waitFor(t, 2*time.Minute, "node2's transaction to be mined into node1's main chain", func() (bool, string) {
		b, ok, err := c.findTx("node1", id, saturatingSub(from, 3))
		if err != nil {
			return false, err.Error()
		}
		mined = b
		return ok, "not in a block yet"
	})
	t.Logf("tx %.16s is in block %d %.16s", id, mined.Index, mined.Hash)

	c.waitConverged(t, 90*time.Second, mined.Index)
	var bal []string
	var first uint64
	for i, s := range services {
		b, err := c.block(s, mined.Hash)
		if err != nil {
			t.Fatal(err)
		}
		if !b.MainChain {
			t.Errorf("%s: block %d %.16s with the transaction is not on its main chain", s, b.Index, b.Hash)
		}
		n, err := c.balance(s, recipient)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = n
		} else if n != first {
			t.Errorf("%s says node4's wallet holds %d, node1 says %d", s, n, first)
		}
		if n < 7 {
			t.Errorf("%s says node4's wallet holds %d, want >= 7", s, n)
		}
		bal = append(bal, fmt.Sprintf("%s=%d", s, n))
	}
	t.Logf("node4's balance on every node: %s", strings.Join(bal, " "))
}

// testDashboard: node1's web page knows every node of the network, by the
// stats beacons they gossip (no central server), and each with its head.
func (c *cluster) testDashboard(t *testing.T) {
	services := []string{"node1", "node2", "node3", "node4"}
	ids := map[string]string{}
	for _, s := range services {
		var st struct {
			PeerID string `json:"peer_id"`
		}
		if err := c.call(s, "GET", "/status", nil, 200, &st); err != nil {
			t.Fatal(err)
		}
		ids[st.PeerID] = s
	}
	waitFor(t, time.Minute, "node1's dashboard to list all four nodes", func() (bool, string) {
		var snap struct {
			Network []struct {
				ID    string `json:"id"`
				Index uint64 `json:"index"`
			} `json:"network"`
		}
		if err := c.call("node1", "GET", "/web/snapshot", nil, 200, &snap); err != nil {
			return false, err.Error()
		}
		seen := map[string]bool{}
		for _, n := range snap.Network {
			if s, ok := ids[n.ID]; ok && n.Index > 0 {
				seen[s] = true
			}
		}
		return len(seen) == len(services), fmt.Sprintf("node1's network view has %v of %v", seen, services)
	})
}

// testMDNSOnly: node4 was given no address; it is connected (by mDNS) and
// on the same chain as the others.
func (c *cluster) testMDNSOnly(t *testing.T) {
	env := c.docker(t, "inspect", "-f", `{{range .Config.Env}}{{println .}}{{end}}`, c.ids["node4"])
	if strings.Contains(env, "GOSSIPCHAIN_BOOTSTRAP=") {
		t.Fatalf("node4 is given a bootstrap address; it must rely on mDNS alone:\n%s", env)
	}
	known := map[string]string{}
	for _, s := range services[:3] {
		known[c.status(t, s).PeerID] = s
	}
	waitFor(t, time.Minute, "node4 (no bootstrap address) to be connected to the other nodes", func() (bool, string) {
		var r struct {
			Peers []struct {
				ID    string   `json:"id"`
				Addrs []string `json:"addrs"`
			} `json:"peers"`
		}
		if err := c.call("node4", "GET", "/peers", nil, 200, &r); err != nil {
			return false, err.Error()
		}
		var names []string
		for _, p := range r.Peers {
			if s, ok := known[p.ID]; ok {
				names = append(names, fmt.Sprintf("%s %v", s, p.Addrs))
			}
		}
		return len(names) >= 1, fmt.Sprintf("%d peers, of them %v", len(r.Peers), names)
	})
	waitFor(t, 90*time.Second, "node4 to be on the same head as node1", func() (bool, string) {
		same, _, detail := c.sameHead("node1", "node4")
		return same, detail
	})
}

// testPartitionHeal cuts node2 off the network; node2 mines a little on its
// own with a user transaction in its branch, while the rest (node3 mines
// continuously) mines more. After reconnecting, every node is on the
// heavier chain and the user's transaction is in it or in a mempool.
func (c *cluster) testPartitionHeal(t *testing.T) {
	const cut = "node2"
	helper := httpHelper(t)
	c.docker(t, "cp", helper, c.ids[cut]+":/e2e-http")
	recipient := c.status(t, "node4").Address
	c.ensureFunded(t, cut, 10)
	c.waitConverged(t, 90*time.Second, 0)
	before := c.status(t, "node1")

	c.docker(t, "network", "disconnect", c.network, c.ids[cut])
	connected := false
	reconnect := func() {
		if !connected {
			connected = true
			c.docker(t, "network", "connect", "--alias", cut, c.network, c.ids[cut])
			c.setViaExec(cut, false)
		}
	}
	defer func() {
		if !connected { // the test failed half-way: leave the cluster whole
			_, _ = runCmd(time.Minute, nil, "docker", "network", "connect", "--alias", cut, c.network, c.ids[cut])
			c.setViaExec(cut, false)
		}
	}()
	c.setViaExec(cut, true)
	t.Logf("%s disconnected from %s at %v; its API is now reached with docker exec", cut, c.network, before)

	// The small side: a user transaction, valid on both sides (the sender
	// was funded before the cut), mined into node2's own branch.
	userTx := c.send(t, cut, recipient, 3)
	var small blockJSON
	for range 2 {
		small = c.mine(t, cut)
	}
	if b, ok, err := c.findTx(cut, userTx, before.Index); err != nil || !ok {
		t.Fatalf("the user transaction is not in %s's own branch: %v", cut, err)
	} else {
		t.Logf("on the small side the user transaction is in block %d", b.Index)
	}
	smallSt := c.status(t, cut)

	// The large side mines more: node3 continuously, node1 on request.
	for range 3 {
		c.mine(t, "node1")
	}
	var bigSt status
	waitFor(t, 2*time.Minute, "the large side to have more work and blocks than node2", func() (bool, string) {
		st, err := c.tryStatus("node1")
		if err != nil {
			return false, err.Error()
		}
		bigSt = st
		return st.work().Cmp(smallSt.work()) > 0 && st.Index > smallSt.Index,
			fmt.Sprintf("node1 %v work %s, node2 %v work %s", st, st.Work, smallSt, smallSt.Work)
	})
	// The cut was real: the large side never saw the user transaction.
	if in, err := c.pending("node1", userTx); err != nil || in {
		t.Fatalf("node1 has the user transaction pending (%v): the partition leaked", err)
	}
	if _, ok, err := c.findTx("node1", userTx, before.Index); err != nil || ok {
		t.Fatalf("node1 has the user transaction in its chain (%v): the partition leaked", err)
	}
	t.Logf("partition: small side %v work %s, large side %v work %s", smallSt, smallSt.Work, bigSt, bigSt.Work)

	reconnect()
	t.Logf("%s reconnected to %s with alias %s", cut, c.network, cut)

	waitFor(t, 3*time.Minute, "every node on the large side's chain", func() (bool, string) {
		same, sts, detail := c.sameHead(services...)
		if !same {
			return false, detail
		}
		// Not bigSt.Head itself: node3 mines all the time, so the large
		// side's own races may replace that block. What must hold is that
		// the cut node left its lighter branch for at least that much work.
		b, err := c.block(cut, small.Hash)
		if err != nil {
			return false, err.Error()
		}
		if b.MainChain {
			return false, fmt.Sprintf("%s's own block %d is still on its main chain; %s", cut, b.Index, detail)
		}
		return sts[cut].work().Cmp(bigSt.work()) >= 0, detail
	})
	if b, err := c.block(cut, small.Hash); err != nil {
		t.Fatal(err)
	} else if b.MainChain {
		t.Fatalf("%s's own block %d %.16s is still on its main chain: the lighter branch won", cut, b.Index, b.Hash)
	}

	// The user transaction from the losing branch is not lost.
	mined := false
	waitFor(t, 2*time.Minute, "the user transaction to be in the winning chain or in a mempool", func() (bool, string) {
		if b, ok, err := c.findTx("node1", userTx, before.Index); err != nil {
			return false, err.Error()
		} else if ok {
			t.Logf("the user transaction is in block %d %.16s of the winning chain", b.Index, b.Hash)
			mined = true
			return true, ""
		}
		var in []string
		for _, s := range services {
			if ok, err := c.pending(s, userTx); err == nil && ok {
				in = append(in, s)
			}
		}
		if len(in) > 0 {
			t.Logf("the user transaction is back in the mempool of %v", in)
			return true, ""
		}
		return false, "neither in node1's chain nor in a mempool"
	})
	if mined {
		return
	}
	// Back in a mempool is enough; but the miner should pick it up once
	// it is announced again. Say so if it does not (not a failure).
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if b, ok, err := c.findTx("node1", userTx, before.Index); err == nil && ok {
			t.Logf("the user transaction was then mined into block %d %.16s", b.Index, b.Hash)
			return
		}
		time.Sleep(time.Second)
	}
	var in []string
	for _, s := range services {
		if ok, err := c.pending(s, userTx); err == nil && ok {
			in = append(in, s)
		}
	}
	t.Logf("NOTE: 30 s after the heal the user transaction is still not mined, only pending on %v (not re-announced to the others?)", in)
}

// testCrash: SIGKILL the mining node3 mid-search, start it again: it keeps
// its chain and peer ID and catches up with blocks mined meanwhile.
func (c *cluster) testCrash(t *testing.T) {
	const victim = "node3"
	waitFor(t, 30*time.Second, victim+" to be mining (hash rate > 0)", func() (bool, string) {
		st, err := c.tryStatus(victim)
		if err != nil {
			return false, err.Error()
		}
		return st.Mining && st.HashRate > 0, fmt.Sprintf("mining %v, hashrate %.0f", st.Mining, st.HashRate)
	})
	before := c.status(t, victim)
	t.Logf("%s before the crash: %v, peer %s, mining at %.0f H/s", victim, before, before.PeerID, before.HashRate)

	c.docker(t, "kill", "--signal", "KILL", c.ids[victim])
	waitFor(t, 30*time.Second, victim+"'s container to be dead", func() (bool, string) {
		out, err := runCmd(30*time.Second, nil, "docker", "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", c.ids[victim])
		if err != nil {
			return false, err.Error()
		}
		return !strings.HasPrefix(out, "running"), strings.TrimSpace(out)
	})
	c.forgetPort(victim)

	// The others go on without it.
	var last blockJSON
	for range 2 {
		last = c.mine(t, "node1")
	}

	c.docker(t, "start", c.ids[victim])
	var first status
	waitFor(t, time.Minute, victim+"'s API to answer after the restart", func() (bool, string) {
		st, err := c.tryStatus(victim)
		if err != nil {
			return false, err.Error()
		}
		first = st
		return true, ""
	})
	t.Logf("%s after the restart: %v, %d peers", victim, first, first.Peers)
	if first.PeerID != before.PeerID {
		t.Errorf("%s's peer ID changed across the crash: %s, was %s", victim, first.PeerID, before.PeerID)
	}
	if first.Index < before.Index {
		t.Errorf("%s's chain went back from %d to %d across the crash", victim, before.Index, first.Index)
	}
	waitFor(t, 2*time.Minute, victim+" to catch up with node1", func() (bool, string) {
		same, sts, detail := c.sameHead("node1", victim)
		return same && sts[victim].Index >= last.Index, detail
	})
	waitFor(t, 30*time.Second, victim+" to be mining again", func() (bool, string) {
		st, err := c.tryStatus(victim)
		if err != nil {
			return false, err.Error()
		}
		return st.Mining, fmt.Sprintf("mining %v", st.Mining)
	})
	c.waitConverged(t, 90*time.Second, last.Index)
}

// ---------------------------------------------------------------- small helpers

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

func randSuffix() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%d%s", os.Getpid(), hex.EncodeToString(b))
}

func saturatingSub(a, b uint64) uint64 {
	if a < b {
		return 0
	}
	return a - b
}

// testScalePeers: `up --scale peer=N` adds N nodes that join through node1
// (no fixed host port, no container name), and scaling back removes them.
func (c *cluster) testScalePeers(t *testing.T) {
	before := c.status(t, "node1").Peers
	if _, err := c.compose(5*time.Minute, "up", "-d", "--no-build", "--scale", "peer=2", "peer"); err != nil {
		t.Fatalf("compose up --scale peer=2: %v", err)
	}
	defer func() {
		if t.Failed() { // the scaled peers' logs go with them: keep them first
			if out, err := c.compose(time.Minute, "logs", "--no-color", "--tail", "80", "peer"); err == nil {
				t.Logf("last log lines of the scaled peers:\n%s", out)
			}
		}
		if _, err := c.compose(3*time.Minute, "up", "-d", "--no-build", "--scale", "peer=0", "peer"); err != nil {
			t.Errorf("compose up --scale peer=0: %v", err)
		}
	}()
	waitFor(t, 90*time.Second, "node1 to see the two scaled peers", func() (bool, string) {
		st, err := c.tryStatus("node1")
		if err != nil {
			return false, err.Error()
		}
		return st.Peers >= before+2, fmt.Sprintf("node1 has %d peers, had %d", st.Peers, before)
	})
}

// TestClusterPortsTaken: make cluster-up's port check names the variable
// of a taken port and starts nothing.
func TestClusterPortsTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	cmd := exec.Command(filepath.Join(repoRoot, "scripts", "cluster-ports.sh"))
	cmd.Env = append(os.Environ(), "GOSSIPCHAIN_NODE1_PORT=", fmt.Sprintf("GOSSIPCHAIN_NODE2_PORT=%d", port),
		"GOSSIPCHAIN_NODE3_PORT=", "GOSSIPCHAIN_NODE4_PORT=", "COMPOSE=false")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), fmt.Sprintf("GOSSIPCHAIN_NODE2_PORT=%d", port)) || !strings.Contains(string(out), "nothing was started") {
		t.Fatalf("cluster-ports.sh with a taken port: %v\n%s", err, out)
	}
}
