package console

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gossipchain/gossipchain/chain"
)

func TestWalletCommand(t *testing.T) {
	n := newNode(t)
	me := n.Address()
	other := chain.NewWallet().Address()
	out := runScript(t, n, strings.Join([]string{
		"wallet",
		"mine 2",
		fmt.Sprintf("send %s 5 1", other),
		fmt.Sprintf("send %s 7", other),
		"wallet",
		"mine",
		"wallet",
		"help wallet",
		"wallet extra",
	}, "\n"))
	inOrder(t, out,
		// before anything
		"address", me.String(), " 0 (confirmed)", "pending  none", " 0 confirmed, next transaction 0",
		// two pending sends
		"address", me.String(), "balance    100 (confirmed)", "pending    2 transactions out (-13 with fees), 0 in",
		"spendable  87", "nonce      0 confirmed, next transaction 2",
		// mined: 100 + 50 + fee 1 - 13
		"mined block #4",
		" 138 (confirmed)", "pending  none", " 2 confirmed, next transaction 2",
		"usage: wallet", "this node's wallet",
		"error: wallet: too many arguments",
	)
}
