package console

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// command is one row of the command table. Help, usage errors and tab
// completion all come from this table.
type command struct {
	name    string
	aliases []string
	usage   string // arguments only, e.g. "ADDRESS AMOUNT [FEE]"
	help    string // one line
	minArgs int
	maxArgs int
	// subwords complete the first argument (mine start|stop).
	subwords []string
	// argIsCommand completes the first argument with command names (help).
	argIsCommand bool
	run          func(ctx context.Context, s *session, args []string) error
}

// line is the usage line: "send ADDRESS AMOUNT [FEE]".
func (c *command) line() string {
	if c.usage == "" {
		return c.name
	}
	return c.name + " " + c.usage
}

// names is the command's name followed by its aliases.
func (c *command) names() []string { return append([]string{c.name}, c.aliases...) }

// commandTable is the console's commands, in the order help lists them.
func commandTable() []*command {
	return []*command{
		{name: "help", usage: "[COMMAND]", help: "list the commands, or explain one", maxArgs: 1, argIsCommand: true, run: cmdHelp},
		{name: "status", help: "the node: peer id, addresses, wallet, head, peers, mempool, mining", run: cmdStatus},
		{name: "peers", help: "the connected peers", run: cmdPeers},
		{name: "bans", help: "the banned peers: until when, and why", run: cmdBans},
		{name: "unban", usage: "PEER-ID | all", help: "let a banned peer (or every one) connect again", minArgs: 1, maxArgs: 1, subwords: []string{"all"}, run: cmdUnban},
		{name: "connect", usage: "MULTIADDR", help: "connect to a peer by its full multiaddr (.../p2p/<peer-id>)", minArgs: 1, maxArgs: 1, run: cmdConnect},
		{name: "send", usage: "ADDRESS AMOUNT [FEE]", help: "send coins from this node's wallet (AMOUNT > 0, FEE >= 0, default 0)", minArgs: 2, maxArgs: 3, run: cmdSend},
		{name: "mine", usage: "[N] | start | stop", help: "mine N blocks now (default 1), or start/stop mining continuously", maxArgs: 1, subwords: []string{"start", "stop"}, run: cmdMine},
		{name: "chain", usage: "[N]", help: "the last N blocks of the main chain (default 10)", maxArgs: 1, run: cmdChain},
		{name: "block", usage: "INDEX|HASH", help: "one block in full: header and transactions (HASH may be a prefix of 8+ hex digits)", minArgs: 1, maxArgs: 1, run: cmdBlock},
		{name: "balance", usage: "[ADDRESS]", help: "the balance and next nonce of an address (default: this node's wallet)", maxArgs: 1, run: cmdBalance},
		{name: "wallet", help: "this node's wallet: address, balance, pending transactions, next nonce", run: cmdWallet},
		{name: "mempool", help: "the pending transactions, best fee first", run: cmdMempool},
		{name: "resolve", help: "ask every peer for its chain; adopt the one with the most work", run: cmdResolve},
		{name: "quit", aliases: []string{"exit"}, help: "leave the console", run: cmdQuit},
	}
}

// errQuit is returned by the quit command to end the session.
var errQuit = errors.New("quit")

// usageError is a wrong command line: it is printed with the usage line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// lookup finds a command by name or alias (case-insensitive).
func (s *session) lookup(name string) *command {
	name = strings.ToLower(name)
	for _, c := range s.cmds {
		if slices.Contains(c.names(), name) {
			return c
		}
	}
	return nil
}

// exec runs one command line and prints its results. It reports whether the
// session should end. It never panics: a panicking handler is reported as an
// error.
func (s *session) exec(ctx context.Context, line string) (quit bool) {
	fields := strings.Fields(line)
	if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
		return false
	}
	c := s.lookup(fields[0])
	if c == nil {
		msg := fmt.Sprintf("unknown command %q", fields[0])
		if sug := s.suggest(fields[0]); sug != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", sug)
		}
		s.errorf("%s; type \"help\" for the list of commands", msg)
		return false
	}
	args := fields[1:]
	var err error
	switch {
	case len(args) < c.minArgs:
		err = usagef("%s: missing arguments", c.name)
	case len(args) > c.maxArgs:
		err = usagef("%s: too many arguments", c.name)
	default:
		err = s.call(ctx, c, args)
	}
	switch {
	case err == nil:
	case errors.Is(err, errQuit):
		return true
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		s.errorf("%s: interrupted", c.name)
	default:
		s.errorf("%v", err)
		var ue *usageError
		if errors.As(err, &ue) {
			s.printf("usage: %s\n", c.line())
		}
	}
	return false
}

// call runs a handler, turning a panic into an error.
func (s *session) call(ctx context.Context, c *command, args []string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("console command panicked", "command", c.name, "panic", r)
			err = fmt.Errorf("%s: internal error: %v", c.name, r)
		}
	}()
	return c.run(ctx, s, args)
}

// suggest returns the command name closest to a mistyped one, or "".
func (s *session) suggest(word string) string {
	word = strings.ToLower(word)
	best, bestDist := "", 3 // suggest only within two edits
	for _, c := range s.cmds {
		for _, name := range c.names() {
			d := editDistance(word, name)
			if strings.HasPrefix(name, word) && len(word) >= 2 {
				d = 1
			}
			if d < bestDist {
				best, bestDist = name, d
			}
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Argument parsing.

// maxCount bounds "mine N" and "chain N".
const maxCount = 10000

// parseAmount reads a positive whole number of coins.
func parseAmount(what, s string) (uint64, error) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v == 0 {
		return 0, usagef("%s %q: want a positive whole number", what, s)
	}
	return v, nil
}

// parseFee reads a non-negative whole number of coins.
func parseFee(s string) (uint64, error) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, usagef("fee %q: want a whole number, 0 or more", s)
	}
	return v, nil
}

// parseCount reads a count in 1..maxCount.
func parseCount(what, s string) (int, error) {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil || v == 0 || v > maxCount {
		return 0, usagef("%s %q: want a whole number from 1 to %d", what, s, maxCount)
	}
	return int(v), nil
}

// Completion.

// complete is the terminal's AutoCompleteCallback: on TAB it completes the
// word before the cursor — a command name, or the first argument of a
// command that has sub-words — to the longest common prefix of the
// candidates, and lists them when that adds nothing.
func (s *session) complete(line string, pos int, key rune) (string, int, bool) {
	if key != '\t' {
		return "", 0, false
	}
	before := line[:pos]
	start := strings.LastIndexAny(before, " \t") + 1
	word := before[start:]
	prev := strings.Fields(before[:start])
	var cands []string
	switch len(prev) {
	case 0:
		for _, c := range s.cmds {
			for _, n := range c.names() {
				if strings.HasPrefix(n, strings.ToLower(word)) {
					cands = append(cands, n)
				}
			}
		}
	case 1:
		c := s.lookup(prev[0])
		if c == nil {
			return line, pos, true
		}
		words := c.subwords
		if c.argIsCommand {
			for _, cc := range s.cmds {
				words = append(words, cc.name)
			}
		}
		for _, w := range words {
			if strings.HasPrefix(w, strings.ToLower(word)) {
				cands = append(cands, w)
			}
		}
	}
	if len(cands) == 0 {
		return line, pos, true // swallow the TAB
	}
	ins := commonPrefix(cands)
	if len(cands) == 1 {
		ins = cands[0]
		// A command that takes arguments, completed at the end of the line,
		// gets its separating space.
		if len(prev) == 0 && pos == len(line) {
			if c := s.lookup(ins); c != nil && c.maxArgs > 0 {
				ins += " "
			}
		}
	} else if len(ins) <= len(word) && s.list != nil {
		s.list(cands)
	}
	if len(ins) < len(word) {
		ins = word
	}
	newLine := line[:start] + ins + line[pos:]
	return newLine, start + len(ins), true
}

// commonPrefix is the longest prefix of all of ss (non-empty).
func commonPrefix(ss []string) string {
	p := ss[0]
	for _, s := range ss[1:] {
		for !strings.HasPrefix(s, p) {
			p = p[:len(p)-1]
		}
	}
	return p
}
