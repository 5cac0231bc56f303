package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestBenchCommandLine(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		out  string // in stdout or stderr
	}{
		{nil, 2, "want a mode"},
		{[]string{"nope"}, 2, "unknown bench mode"},
		{[]string{"-h"}, 0, "Usage: gossipchain bench"},
		{[]string{"--help"}, 0, "-nodes int"},
		{[]string{"sync", "-h"}, 0, "--blocks"},
		{[]string{"sync", "--txs", "99"}, 2, "--txs 99"},
		{[]string{"pow", "extra"}, 2, "unexpected argument"},
		{[]string{"plot", "--sizes", "5,x"}, 2, "positive integers"},
		{[]string{"network", "-h"}, 0, "-time-scale"},
		{[]string{"network", "--time-scale", "slow"}, 2, "-time-scale"},
	} {
		var stdout, stderr bytes.Buffer
		code := benchMain(c.args, &stdout, &stderr)
		if code != c.code || !strings.Contains(stdout.String()+stderr.String(), c.out) {
			t.Errorf("bench %q: exit %d, want %d, output lacks %q:\n%s%s", c.args, code, c.code, c.out, stdout.String(), stderr.String())
		}
	}
}

// TestBenchPowJSON runs the quickest mode end to end through the command.
func TestBenchPowJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := benchMain([]string{"pow", "--json", "--quiet", "--pow-duration", "20ms"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	var r map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, stdout.String())
	}
	for _, k := range []string{"raw_hashes_per_s", "hashes_per_s_1", "hashes_per_s_all", "workers_all"} {
		if _, ok := r[k].(float64); !ok {
			t.Errorf("key %q missing in %v", k, r)
		}
	}
}

// From 300 nodes bench network slows its clock and shortens its run
// unless told otherwise, and says so; smaller networks keep the defaults.
func TestLargeNetworkDefaults(t *testing.T) {
	c := new(benchConfig)
	fs := benchFlags(c)
	if err := fs.Parse([]string{"--nodes", "1000", "--net-blocks", "20"}); err != nil {
		t.Fatal(err)
	}
	n := c.o.Net
	n.Nodes = 1000
	var said strings.Builder
	largeNetworkDefaults(&n, map[string]bool{"nodes": true, "net-blocks": true}, &said)
	if n.TimeScale != 10 || n.Interval != 2*time.Second || n.Blocks != 20 || n.Partition != 2*time.Second {
		t.Fatalf("1000 nodes: scale %g interval %v blocks %d partition %v", n.TimeScale, n.Interval, n.Blocks, n.Partition)
	}
	if !strings.Contains(said.String(), "--time-scale 10") || strings.Contains(said.String(), "--net-blocks") {
		t.Fatalf("said %q", said.String())
	}
	small := c.o.Net
	small.Nodes = 100
	said.Reset()
	largeNetworkDefaults(&small, map[string]bool{}, &said)
	if small.TimeScale != c.o.Net.TimeScale || small.Blocks != c.o.Net.Blocks || said.Len() != 0 {
		t.Fatalf("100 nodes changed: %+v, said %q", small, said.String())
	}
}
