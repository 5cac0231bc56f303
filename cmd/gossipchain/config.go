package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gossipchain/gossipchain/api"
	"github.com/gossipchain/gossipchain/node"
	ma "github.com/multiformats/go-multiaddr"
)

// envPrefix names the environment variable of each flag:
// --data-dir is GOSSIPCHAIN_DATA_DIR, and so on. A flag given on the
// command line wins over its variable; an empty variable counts as unset.
const envPrefix = "GOSSIPCHAIN_"

func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// usageError is a command-line mistake: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

func isUsage(err error) bool {
	var u *usageError
	return errors.As(err, &u)
}

// config is what the node command runs with.
type config struct {
	dataDir      string
	listen       []string
	bootstrap    []string
	mdns         bool
	statsBeacon  bool
	dht          bool
	nat          bool
	relayService bool
	natPortMap   bool
	http         string // "" = no HTTP API
	httpVHosts   []string
	httpToken    string
	mine         bool
	console      bool
	difficulty   uint
	minerWorkers int
	identitySeed string
	banDuration  time.Duration
	logLevel     slog.Level
	logLevelSet  bool // given explicitly (flag or env)
	logFormat    string
	fromEnv      map[string]bool // flags set from their environment variable
}

// flagName names a flag as the user gave it: --difficulty, or
// GOSSIPCHAIN_DIFFICULTY when the value came from the environment.
func (c *config) flagName(name string) string {
	if c.fromEnv[name] {
		return envName(name)
	}
	return "--" + name
}

// listFlag is a repeatable flag that also takes comma-separated values.
// The first value given replaces the default.
type listFlag struct {
	values []string
	set    bool
}

func (l *listFlag) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(l.values, ",")
}

func (l *listFlag) Set(s string) error {
	if !l.set {
		l.values, l.set = nil, true
	}
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			l.values = append(l.values, v)
		}
	}
	return nil
}

// portFlag is -p/--port: the tutorial's shorthand for --http 127.0.0.1:N.
type portFlag struct {
	port int
	set  bool
}

func (p *portFlag) String() string {
	if p == nil || !p.set {
		return ""
	}
	return strconv.Itoa(p.port)
}

func (p *portFlag) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("want a TCP port number 0..65535")
	}
	p.port, p.set = n, true
	return nil
}

// addr is the HTTP address the port stands for.
func (p *portFlag) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)) }

const nodeUsage = `Usage: gossipchain [flags]
       gossipchain version | wallet [--data-dir D] | health [--http ADDR] | bench ...
       gossipchain wallet new|show|balance | send | tx sign   (each with -h)
       gossipchain store check|reset [--data-dir D]

Runs a gossipchain node: a libp2p peer with an HTTP JSON API and, on a
terminal, an interactive console. Every flag can also be set with an
environment variable GOSSIPCHAIN_<FLAG> (--data-dir is GOSSIPCHAIN_DATA_DIR);
a flag on the command line wins over its variable.

Flags:
`

// newFlagSet makes a flag set that neither exits nor prints: parse errors
// are returned (and printed once by exitCode), -h prints the usage to help.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parseFlags parses args; for -h it prints fs.Usage to help.
func parseFlags(fs *flag.FlagSet, args []string, help io.Writer) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(help)
		fs.Usage()
		return err
	}
	if err != nil {
		return &usageError{msg: err.Error()}
	}
	return nil
}

// applyEnv sets each flag not given on the command line from its
// environment variable, and returns the names of the flags so set.
func applyEnv(fs *flag.FlagSet, getenv func(string) string, skip ...string) (map[string]bool, error) {
	onCmdLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCmdLine[f.Name] = true })
	fromEnv := map[string]bool{}
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if onCmdLine[f.Name] || slices.Contains(skip, f.Name) {
			return
		}
		v := getenv(envName(f.Name))
		if v == "" {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, usageErrorf("%s=%q: %s (the variable of --%s: %s)", envName(f.Name), v, allowedValues(f, err), f.Name, f.Usage))
			return
		}
		fromEnv[f.Name] = true
	})
	return fromEnv, errors.Join(errs...)
}

// allowedValues says what a flag takes, for a bad value from the
// environment: the flag package's error is about parsing ("strconv.ParseBool:
// parsing \"maybe\": invalid syntax").
func allowedValues(f *flag.Flag, err error) string {
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return "want true or false (also 1/0, t/f)"
	}
	switch fmt.Sprintf("%T", f.Value) {
	case "*flag.uintValue", "*flag.uint64Value":
		return "want a whole number, 0 or more"
	case "*flag.intValue", "*flag.int64Value":
		return "want a whole number"
	case "*flag.durationValue":
		return "want a duration such as 3s or 500ms"
	}
	if errors.Is(err, strconv.ErrSyntax) || errors.Is(err, strconv.ErrRange) {
		return "not a valid value"
	}
	return err.Error()
}

// parseConfig reads the node command's flags and environment; -h prints
// the usage to help.
func parseConfig(args []string, getenv func(string) string, stdinIsTerminal bool, help io.Writer) (*config, error) {
	c := &config{}
	fs := newFlagSet("gossipchain")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), nodeUsage)
		fs.PrintDefaults()
	}
	listen := &listFlag{values: append([]string(nil), node.DefaultListenAddrs...)}
	bootstrap := &listFlag{}
	vhosts := &listFlag{}
	port := &portFlag{}
	var logLevel, logFormat string
	fs.StringVar(&c.dataDir, "data-dir", "./gossipchain-data", "directory of the chain store, node key and wallet key")
	fs.Var(listen, "listen", "libp2p listen multiaddr; repeatable or comma-separated")
	fs.Var(bootstrap, "bootstrap", "peer multiaddr ending in /p2p/<peer-id> to keep connected to; repeatable or comma-separated")
	fs.BoolVar(&c.mdns, "mdns", true, "find peers on the LAN with mDNS (--mdns=false to turn off)")
	fs.BoolVar(&c.statsBeacon, "stats-beacon", true, "publish this node's stats beacon (head, peers, hash rate, block arrival times) for the network view of every dashboard (--stats-beacon=false to turn off)")
	fs.BoolVar(&c.dht, "dht", true, "find peers of this network through the libp2p Kademlia DHT, entered by the --bootstrap peers (any libp2p DHT node will do); --dht=false to turn off")
	fs.BoolVar(&c.nat, "nat", true, "NAT traversal: AutoNAT, circuit relay v2 client and hole punching (--nat=false to turn off)")
	fs.BoolVar(&c.relayService, "relay-service", false, "offer circuit relay v2 to NATed peers (runs only while AutoNAT finds this node publicly reachable)")
	fs.BoolVar(&c.natPortMap, "nat-portmap", false, "ask the router for a port mapping with UPnP or NAT-PMP")
	fs.StringVar(&c.http, "http", "127.0.0.1:5000", `HTTP API address; "" or "off" turns it off`)
	fs.Var(vhosts, "http-vhosts", `further names the HTTP API answers to in the Host header, comma-separated ("*" = any); IP addresses, localhost and the --http host always work`)
	fs.StringVar(&c.httpToken, "http-token", "", "bearer token the HTTP API requires (Authorization: Bearer TOKEN) on all but /health and /status; without it a non-loopback --http gets a random one, written to DATA_DIR/"+api.CookieFile+" (prefer the environment variable to the flag: a command line is visible to every user)")
	fs.Var(port, "p", "shorthand for --http 127.0.0.1:N, as the tutorial's -p 5001")
	fs.Var(port, "port", "same as -p")
	fs.BoolVar(&c.mine, "mine", false, "mine continuously")
	fs.BoolVar(&c.console, "console", stdinIsTerminal, "interactive console on stdin (default: on when stdin is a terminal)")
	fs.UintVar(&c.difficulty, "difficulty", 16, "the network's initial difficulty in leading zero bits, 1..64; nodes of one network must agree")
	fs.IntVar(&c.minerWorkers, "miner-workers", 0, "mining goroutines (0 = one per core)")
	fs.StringVar(&c.identitySeed, "identity-seed", "", "derive the node's peer ID from this string instead of the key file, so a demo cluster knows its bootstrap peer's ID in advance (anyone knowing the seed can impersonate the node: demos only)")
	fs.DurationVar(&c.banDuration, "ban-duration", node.DefaultBanDuration, "how long a misbehaving peer is refused once banned (e.g. 24h, 30m)")
	fs.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&logFormat, "log-format", "text", "text or json (logs go to stderr)")

	if err := parseFlags(fs, args, help); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, usageErrorf("unexpected argument %q (subcommands: version, wallet, send, tx, health, store, bench)", fs.Arg(0))
	}
	onCmdLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCmdLine[f.Name] = true })
	portOnCmdLine := onCmdLine["p"] || onCmdLine["port"]
	if portOnCmdLine && onCmdLine["http"] {
		return nil, usageErrorf("give either --http or -p/--port, not both")
	}
	skip := []string{"p"} // -p and --port share one value: read the variable once
	if portOnCmdLine {
		skip = append(skip, "port")
	}
	fromEnv, err := applyEnv(fs, getenv, skip...)
	if err != nil {
		return nil, err
	}
	// -p/--port against --http: the command line wins over the environment.
	switch {
	case portOnCmdLine:
		c.http = port.addr()
	case onCmdLine["http"]:
	case fromEnv["port"] && fromEnv["http"]:
		return nil, usageErrorf("set either %s or %s, not both", envName("http"), envName("port"))
	case fromEnv["port"]:
		c.http = port.addr()
	}
	c.listen, c.bootstrap, c.httpVHosts = listen.values, bootstrap.values, vhosts.values
	c.fromEnv = fromEnv
	c.logLevelSet = onCmdLine["log-level"] || fromEnv["log-level"]
	c.logFormat = strings.ToLower(logFormat)
	if err := c.validate(logLevel); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *config) validate(logLevel string) error {
	if c.dataDir == "" {
		return usageErrorf("%s must not be empty", c.flagName("data-dir"))
	}
	if c.difficulty < 1 || c.difficulty > 64 {
		return usageErrorf("%s %d: must be between 1 and 64 leading zero bits", c.flagName("difficulty"), c.difficulty)
	}
	if c.minerWorkers < 0 {
		return usageErrorf("%s %d: must be 0 (one per core) or more", c.flagName("miner-workers"), c.minerWorkers)
	}
	if c.banDuration <= 0 {
		return usageErrorf("--ban-duration %s: must be positive", c.banDuration)
	}
	switch strings.ToLower(logLevel) {
	case "debug":
		c.logLevel = slog.LevelDebug
	case "info":
		c.logLevel = slog.LevelInfo
	case "warn", "warning":
		c.logLevel = slog.LevelWarn
	case "error":
		c.logLevel = slog.LevelError
	default:
		return usageErrorf("%s %q: want debug, info, warn or error", c.flagName("log-level"), logLevel)
	}
	if c.logFormat != "text" && c.logFormat != "json" {
		return usageErrorf("%s %q: want text or json", c.flagName("log-format"), c.logFormat)
	}
	if strings.EqualFold(c.http, "off") {
		c.http = ""
	}
	if c.http != "" {
		if _, port, err := net.SplitHostPort(c.http); err != nil {
			return usageErrorf("%s %q: want host:port (e.g. 127.0.0.1:5000): %v", c.flagName("http"), c.http, err)
		} else if _, err := net.LookupPort("tcp", port); err != nil {
			return usageErrorf("%s %q: bad port: %v", c.flagName("http"), c.http, err)
		}
	}
	if err := validToken(c.httpToken); err != nil {
		return usageErrorf("%s: %v", c.flagName("http-token"), err)
	}
	for _, h := range c.httpVHosts {
		if h != "*" && (strings.ContainsAny(h, "/:[] ") || strings.Trim(h, ".") == "") {
			return usageErrorf("%s %q: want host names without port or scheme (e.g. node1,chain.example), or *", c.flagName("http-vhosts"), h)
		}
	}
	if len(c.listen) == 0 {
		return usageErrorf("%s: at least one multiaddr is needed", c.flagName("listen"))
	}
	for _, s := range c.listen {
		if _, err := ma.NewMultiaddr(s); err != nil {
			return usageErrorf("%s %q: not a multiaddr: %v", c.flagName("listen"), s, err)
		}
	}
	for _, s := range c.bootstrap {
		if _, err := node.ParsePeerAddr(s); err != nil {
			return usageErrorf("%s %q: %v", c.flagName("bootstrap"), s, err)
		}
	}
	return nil
}

// minTokenLen is the shortest --http-token accepted.
const minTokenLen = 16

// validToken checks a token given by flag or variable: it travels in an
// HTTP header, so printable ASCII without spaces, and it must not be
// guessable at a glance. "" (none given) is valid.
func validToken(tok string) error {
	if tok == "" {
		return nil
	}
	if len(tok) < minTokenLen {
		return fmt.Errorf("%d characters, want at least %d", len(tok), minTokenLen)
	}
	for _, r := range tok {
		if r <= ' ' || r > '~' {
			return fmt.Errorf("want printable ASCII without spaces")
		}
	}
	return nil
}
