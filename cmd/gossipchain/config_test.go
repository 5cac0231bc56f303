package main

import (
	"errors"
	"flag"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gossipchain/gossipchain/node"
)

func envMap(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestParseConfigDefaults(t *testing.T) {
	c, err := parseConfig(nil, envMap(), false, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.dataDir != "./gossipchain-data" || !slices.Equal(c.listen, node.DefaultListenAddrs) || c.bootstrap != nil ||
		!c.mdns || c.http != "127.0.0.1:5000" || c.mine || c.console || c.difficulty != 16 || c.minerWorkers != 0 ||
		c.logLevel != slog.LevelInfo || c.logLevelSet || c.logFormat != "text" {
		t.Errorf("defaults: %+v", c)
	}
	if c, _ := parseConfig(nil, envMap(), true, io.Discard); !c.console {
		t.Errorf("console is not on by default on a terminal")
	}
}

func TestParseConfigFlagsAndEnv(t *testing.T) {
	const peerA = "/ip4/10.0.0.2/tcp/4001/p2p/12D3KooWRtouDc9xVnA6HPtqMQEV33Qsd1TaYYFT3YSE47KXrpkX"
	const peerB = "/dns4/node2/tcp/4001/p2p/12D3KooWRtouDc9xVnA6HPtqMQEV33Qsd1TaYYFT3YSE47KXrpkX"
	for _, c := range []struct {
		name  string
		args  []string
		env   []string
		check func(*config) bool
	}{
		{"env sets", nil, []string{
			"GOSSIPCHAIN_DATA_DIR", "/data", "GOSSIPCHAIN_LISTEN", "/ip4/0.0.0.0/tcp/4002", "GOSSIPCHAIN_BOOTSTRAP", peerA + ", " + peerB,
			"GOSSIPCHAIN_MDNS", "false", "GOSSIPCHAIN_HTTP", "0.0.0.0:5000", "GOSSIPCHAIN_MINE", "true", "GOSSIPCHAIN_CONSOLE", "true",
			"GOSSIPCHAIN_DIFFICULTY", "12", "GOSSIPCHAIN_MINER_WORKERS", "3", "GOSSIPCHAIN_LOG_LEVEL", "debug", "GOSSIPCHAIN_LOG_FORMAT", "json",
		}, func(c *config) bool {
			return c.dataDir == "/data" && slices.Equal(c.listen, []string{"/ip4/0.0.0.0/tcp/4002"}) && slices.Equal(c.bootstrap, []string{peerA, peerB}) &&
				!c.mdns && c.http == "0.0.0.0:5000" && c.mine && c.console && c.difficulty == 12 && c.minerWorkers == 3 &&
				c.logLevel == slog.LevelDebug && c.logLevelSet && c.logFormat == "json"
		}},
		{"flags win over env", []string{"--difficulty", "8", "--http", "127.0.0.1:6000", "--mdns=true", "--listen", "/ip4/127.0.0.1/tcp/1"},
			[]string{"GOSSIPCHAIN_DIFFICULTY", "0", "GOSSIPCHAIN_HTTP", "nonsense", "GOSSIPCHAIN_MDNS", "false", "GOSSIPCHAIN_LISTEN", "/ip4/127.0.0.1/tcp/2"},
			func(c *config) bool {
				return c.difficulty == 8 && c.http == "127.0.0.1:6000" && c.mdns && slices.Equal(c.listen, []string{"/ip4/127.0.0.1/tcp/1"})
			}},
		{"repeated and comma-separated", []string{"--bootstrap", peerA, "--bootstrap", peerB + "," + peerA, "--listen", "/ip4/127.0.0.1/tcp/1", "--listen", "/ip4/127.0.0.1/udp/1/quic-v1"}, nil,
			func(c *config) bool {
				return slices.Equal(c.bootstrap, []string{peerA, peerB, peerA}) && slices.Equal(c.listen, []string{"/ip4/127.0.0.1/tcp/1", "/ip4/127.0.0.1/udp/1/quic-v1"})
			}},
		{"-p", []string{"-p", "5001"}, nil, func(c *config) bool { return c.http == "127.0.0.1:5001" }},
		{"--port", []string{"--port=5002"}, nil, func(c *config) bool { return c.http == "127.0.0.1:5002" }},
		{"-p wins over env http", []string{"-p", "5001"}, []string{"GOSSIPCHAIN_HTTP", "0.0.0.0:7000", "GOSSIPCHAIN_PORT", "9"}, func(c *config) bool { return c.http == "127.0.0.1:5001" }},
		{"--http wins over env port", []string{"--http", "0.0.0.0:7000"}, []string{"GOSSIPCHAIN_PORT", "9"}, func(c *config) bool { return c.http == "0.0.0.0:7000" }},
		{"env port", nil, []string{"GOSSIPCHAIN_PORT", "5003"}, func(c *config) bool { return c.http == "127.0.0.1:5003" }},
		{"http off", []string{"--http", ""}, nil, func(c *config) bool { return c.http == "" }},
		{"http off by env", nil, []string{"GOSSIPCHAIN_HTTP", "off"}, func(c *config) bool { return c.http == "" }},
		{"empty env is unset", nil, []string{"GOSSIPCHAIN_HTTP", "", "GOSSIPCHAIN_DIFFICULTY", ""}, func(c *config) bool { return c.http == "127.0.0.1:5000" && c.difficulty == 16 }},
		{"console off on a terminal", []string{"--console=false"}, nil, func(c *config) bool { return !c.console }},
		{"log level case", []string{"--log-level", "WARN"}, nil, func(c *config) bool { return c.logLevel == slog.LevelWarn && c.logLevelSet }},
		{"vhosts and token by env", nil, []string{"GOSSIPCHAIN_HTTP_VHOSTS", "node1, chain.example", "GOSSIPCHAIN_HTTP_TOKEN", "demo-token-0123456789"},
			func(c *config) bool {
				return slices.Equal(c.httpVHosts, []string{"node1", "chain.example"}) && c.httpToken == "demo-token-0123456789"
			}},
		{"vhosts and token flags win", []string{"--http-vhosts", "*", "--http-token", "flag-token-0123456789"}, []string{"GOSSIPCHAIN_HTTP_VHOSTS", "node1", "GOSSIPCHAIN_HTTP_TOKEN", "env-token-0123456789"},
			func(c *config) bool {
				return slices.Equal(c.httpVHosts, []string{"*"}) && c.httpToken == "flag-token-0123456789"
			}},
		{"ban duration default", nil, nil, func(c *config) bool { return c.banDuration == node.DefaultBanDuration }},
		{"ban duration", []string{"--ban-duration", "90m"}, nil, func(c *config) bool { return c.banDuration == 90*time.Minute }},
		{"ban duration by env", nil, []string{"GOSSIPCHAIN_BAN_DURATION", "2h"}, func(c *config) bool { return c.banDuration == 2*time.Hour }},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := parseConfig(c.args, envMap(c.env...), true, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if !c.check(cfg) {
				t.Errorf("config %+v", cfg)
			}
		})
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, c := range []struct {
		name   string
		args   []string
		env    []string
		substr string
	}{
		{"difficulty 0", []string{"--difficulty", "0"}, nil, "between 1 and 64"},
		{"difficulty 65", []string{"--difficulty=65"}, nil, "between 1 and 64"},
		{"difficulty negative", []string{"--difficulty", "-1"}, nil, "difficulty"},
		{"difficulty not a number", []string{"--difficulty", "hard"}, nil, "difficulty"},
		{"difficulty from env", nil, []string{"GOSSIPCHAIN_DIFFICULTY", "99"}, "between 1 and 64"},
		{"difficulty env not a number", nil, []string{"GOSSIPCHAIN_DIFFICULTY", "x"}, "GOSSIPCHAIN_DIFFICULTY"},
		{"mdns env not a bool", nil, []string{"GOSSIPCHAIN_MDNS", "maybe"}, "GOSSIPCHAIN_MDNS"},
		{"unknown flag", []string{"--nope"}, nil, "nope"},
		{"positional argument", []string{"frobnicate"}, nil, "unexpected argument"},
		{"log level", []string{"--log-level", "loud"}, nil, "--log-level"},
		{"log format", []string{"--log-format", "xml"}, nil, "--log-format"},
		{"miner workers", []string{"--miner-workers", "-2"}, nil, "--miner-workers"},
		{"ban duration zero", []string{"--ban-duration", "0s"}, nil, "--ban-duration"},
		{"ban duration not a duration", nil, []string{"GOSSIPCHAIN_BAN_DURATION", "forever"}, "GOSSIPCHAIN_BAN_DURATION"},
		{"port range", []string{"-p", "70000"}, nil, "port"},
		{"port not a number", []string{"--port", "http"}, nil, "port"},
		{"http and port", []string{"--http", "127.0.0.1:1", "-p", "2"}, nil, "either"},
		{"http and port env", nil, []string{"GOSSIPCHAIN_HTTP", "127.0.0.1:1", "GOSSIPCHAIN_PORT", "2"}, "either"},
		{"http without port", []string{"--http", "localhost"}, nil, "--http"},
		{"http bad port", []string{"--http", "localhost:99999"}, nil, "--http"},
		{"listen", []string{"--listen", "tcp://0.0.0.0:4001"}, nil, "--listen"},
		{"bootstrap without peer id", []string{"--bootstrap", "/ip4/10.0.0.1/tcp/4001"}, nil, "--bootstrap"},
		{"empty data dir", []string{"--data-dir", ""}, nil, "--data-dir"},
		{"short token", []string{"--http-token", "secret"}, nil, "--http-token"},
		{"token with a space", nil, []string{"GOSSIPCHAIN_HTTP_TOKEN", "secret secret secret"}, "printable"},
		{"vhost with port", []string{"--http-vhosts", "node1:5000"}, nil, "--http-vhosts"},
		{"vhost URL", []string{"--http-vhosts", "http://node1"}, nil, "--http-vhosts"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseConfig(c.args, envMap(c.env...), false, io.Discard)
			if err == nil || !isUsage(err) {
				t.Fatalf("err = %v, want a usage error", err)
			}
			if !strings.Contains(err.Error(), c.substr) {
				t.Errorf("error %q does not mention %q", err, c.substr)
			}
		})
	}
	if _, err := parseConfig([]string{"-h"}, envMap(), false, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}

func TestHealthURL(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:5000":        "http://127.0.0.1:5000/health",
		"0.0.0.0:5000":          "http://127.0.0.1:5000/health",
		":5000":                 "http://127.0.0.1:5000/health",
		"[::]:5000":             "http://[::1]:5000/health",
		"node1:5000":            "http://node1:5000/health",
		"http://node1:5000/x":   "http://node1:5000/health",
		"https://example.org/":  "https://example.org/health",
		"localhost:5000":        "http://localhost:5000/health",
		"[2001:db8::1]:5000":    "http://[2001:db8::1]:5000/health",
		"http://127.0.0.1:5000": "http://127.0.0.1:5000/health",
	} {
		if got, err := healthURL(in); err != nil || got != want {
			t.Errorf("healthURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "off", "localhost"} {
		if _, err := healthURL(in); err == nil {
			t.Errorf("healthURL(%q): no error", in)
		}
	}
}

func TestParseConfigIdentitySeed(t *testing.T) {
	c, err := parseConfig(nil, envMap("GOSSIPCHAIN_IDENTITY_SEED", "node1"), false, io.Discard)
	if err != nil || c.identitySeed != "node1" {
		t.Fatalf("env: %+v %v", c, err)
	}
	c, err = parseConfig([]string{"--identity-seed", "node2"}, envMap("GOSSIPCHAIN_IDENTITY_SEED", "node1"), false, io.Discard)
	if err != nil || c.identitySeed != "node2" {
		t.Fatalf("flag over env: %+v %v", c, err)
	}
}
