// Package chaos runs gossipchain nodes (the real binary) in network
// namespaces, drives clients against them, injects faults (SIGKILL and
// restart, partitions, clock skew, delay and loss, a full disk) and checks
// afterwards that every acknowledged transaction is in the converged chain
// exactly once or explained by a conflicting spend that won.
//
// Everything it creates is named with Config.Prefix: namespaces (a switch
// namespace with the bridge, one per node), loop-mounted ext4 images for
// the data directories, processes. Cleanup removes them all.
package chaos

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

const subnet = "10.77.0"

func nodeIP(i int) string { return fmt.Sprintf("%s.%d", subnet, 10+i) }

// run runs a command and returns its output, with the command in the error.
func run(name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// network is a bridge in a switch namespace and one namespace per node.
type network struct {
	prefix string
	n      int
	nss    []string // created, switch first
}

func (nw *network) ns(i int) string     { return fmt.Sprintf("%s-n%d", nw.prefix, i) }
func (nw *network) switchNS() string    { return nw.prefix + "-sw" }
func (nw *network) nsPath(i int) string { return "/run/netns/" + nw.ns(i) }

func (nw *network) setup() error {
	sw := nw.switchNS()
	steps := [][]string{
		{"ip", "netns", "add", sw},
		{"ip", "-n", sw, "link", "set", "lo", "up"},
		{"ip", "-n", sw, "link", "add", "br0", "type", "bridge"},
		{"ip", "-n", sw, "link", "set", "br0", "up"},
	}
	for i := 1; i <= nw.n; i++ {
		ns := nw.ns(i)
		steps = append(steps,
			[]string{"ip", "netns", "add", ns},
			[]string{"ip", "-n", sw, "link", "add", fmt.Sprintf("port%d", i), "type", "veth", "peer", "name", "eth0", "netns", ns},
			[]string{"ip", "-n", sw, "link", "set", fmt.Sprintf("port%d", i), "master", "br0", "up"},
			[]string{"ip", "-n", ns, "link", "set", "lo", "up"},
			[]string{"ip", "-n", ns, "addr", "add", nodeIP(i) + "/24", "dev", "eth0"},
			[]string{"ip", "-n", ns, "link", "set", "eth0", "up"},
		)
	}
	for _, s := range steps {
		if _, err := run(s[0], s[1:]...); err != nil {
			return err
		}
		if s[1] == "netns" && s[2] == "add" {
			nw.nss = append(nw.nss, s[3])
		}
	}
	return nil
}

func (nw *network) teardown() {
	for i := len(nw.nss) - 1; i >= 0; i-- {
		run("ip", "netns", "delete", nw.nss[i])
	}
	nw.nss = nil
}

// partition cuts every path between side a and the rest with blackhole
// routes in each namespace (both directions).
func (nw *network) partition(a []int) error {
	in := map[int]bool{}
	for _, i := range a {
		in[i] = true
	}
	for i := 1; i <= nw.n; i++ {
		for j := 1; j <= nw.n; j++ {
			if i != j && in[i] != in[j] {
				if _, err := run("ip", "-n", nw.ns(i), "route", "replace", "blackhole", nodeIP(j)+"/32"); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (nw *network) heal() error {
	var first error
	for i := 1; i <= nw.n; i++ {
		for j := 1; j <= nw.n; j++ {
			if i != j {
				// Absent routes fail: fine.
				run("ip", "-n", nw.ns(i), "route", "del", "blackhole", nodeIP(j)+"/32")
			}
		}
	}
	return first
}

// degrade adds delay and loss to node i's link: tc netem if the kernel
// has it; else (no sch_netem, as in some containers) loss by iptables'
// statistic match both ways and delay by queueing behind a slow tbf
// shaper. It returns what it applied.
func (nw *network) degrade(i, delayMS, lossPct int) (string, error) {
	ns := nw.ns(i)
	_, err := run("ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", "eth0", "root", "netem",
		"delay", fmt.Sprintf("%dms", delayMS), fmt.Sprintf("%dms", delayMS/2), "loss", fmt.Sprintf("%d%%", lossPct))
	if err == nil {
		return fmt.Sprintf("netem delay %dms ±%dms, loss %d%%", delayMS, delayMS/2, lossPct), nil
	}
	if !strings.Contains(err.Error(), "unknown") {
		return "", err
	}
	rate := 64 + 8*(400-min(delayMS, 380)) // kbit/s: slower for more delay
	if _, err := run("ip", "netns", "exec", ns, "tc", "qdisc", "replace", "dev", "eth0", "root", "tbf",
		"rate", fmt.Sprintf("%dkbit", rate), "burst", "16kbit", "latency", fmt.Sprintf("%dms", max(delayMS, 50))); err != nil {
		return "", err
	}
	p := fmt.Sprintf("%.2f", float64(lossPct)/100)
	for _, chain := range []string{"INPUT", "OUTPUT"} {
		if _, err := run("ip", "netns", "exec", ns, "iptables", "-A", chain, "-m", "statistic", "--mode", "random", "--probability", p, "-j", "DROP"); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("no netem in this kernel: tbf %dkbit (queueing up to %dms), iptables loss %d%% both ways", rate, max(delayMS, 50), lossPct), nil
}

func (nw *network) clearDegrade(i int) {
	run("ip", "netns", "exec", nw.ns(i), "tc", "qdisc", "del", "dev", "eth0", "root")
	run("ip", "netns", "exec", nw.ns(i), "iptables", "-F", "INPUT")
	run("ip", "netns", "exec", nw.ns(i), "iptables", "-F", "OUTPUT")
}

// dialer dials from inside namespace path: a thread is moved into it for
// the socket call and then dropped (a goroutine that ends locked to its
// thread takes the thread with it), so no other goroutine runs there.
func dialer(path string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type res struct {
			c   net.Conn
			err error
		}
		ch := make(chan res, 1)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
			fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				ch <- res{nil, err}
				return
			}
			err = unix.Setns(fd, unix.CLONE_NEWNET)
			unix.Close(fd)
			if err != nil {
				ch <- res{nil, fmt.Errorf("setns %s: %w", path, err)}
				return
			}
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			ch <- res{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
}

// startInNS starts cmd in the network namespace at path: the fork
// happens on a thread moved into it (a child inherits its parent thread's
// namespaces), which is then dropped. Unlike `ip netns exec` it mounts
// nothing, and the pid is the node's.
func startInNS(cmd *exec.Cmd, path string) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ch <- err
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			ch <- fmt.Errorf("setns %s: %w", path, err)
			return
		}
		ch <- cmd.Start()
	}()
	return <-ch
}

// disk is a small ext4 image, loop-mounted on a node's data directory, so
// the harness can fill it.
type disk struct {
	img, dir string
	mounted  bool
}

func newDisk(img, dir string, sizeMB int) (*disk, error) {
	d := &disk{img: img, dir: dir}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if _, err := run("truncate", "-s", fmt.Sprintf("%dM", sizeMB), img); err != nil {
		return nil, err
	}
	if _, err := run("mkfs.ext4", "-q", "-F", "-m", "0", img); err != nil {
		return nil, err
	}
	if _, err := run("mount", "-o", "loop", img, dir); err != nil {
		return nil, err
	}
	d.mounted = true
	return d, nil
}

func (d *disk) filler() string { return d.dir + "/chaos-filler" }

// fill writes a file until the disk refuses.
func (d *disk) fill() error {
	f, err := os.Create(d.filler())
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for _, n := range []int{1 << 20, 4096, 1} {
		for {
			if _, err := f.Write(buf[:n]); err != nil {
				break
			}
		}
	}
	f.Sync()
	return nil
}

func (d *disk) free() { os.Remove(d.filler()) }

func (d *disk) unmount() {
	if d.mounted {
		run("umount", "-l", d.dir)
		d.mounted = false
	}
	os.Remove(d.img)
}
