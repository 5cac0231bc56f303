package console

import (
	"bytes"
	"context"
	"fmt"
	"text/tabwriter"
)

// cmdWallet shows this node's wallet: its address, confirmed balance and
// nonce, and what its pending transactions will take from it.
func cmdWallet(_ context.Context, s *session, _ []string) error {
	me := s.n.Address()
	acct, next := s.n.Balance(me)
	var count int
	var out uint64 // amounts and fees of pending transactions from me
	var in uint64  // amounts of pending transactions to me
	for _, tx := range s.n.Chain().Mempool().Pending() {
		if tx.Sender == me {
			count++
			out += tx.Amount + tx.Fee
		}
		if tx.Recipient == me {
			in += tx.Amount
		}
	}
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "address\t%s\n", me)
	fmt.Fprintf(tw, "balance\t%d (confirmed)\n", acct.Balance)
	if count > 0 || in > 0 {
		fmt.Fprintf(tw, "pending\t%s out (-%d with fees), %d in\n", plural(count, "transaction"), out, in)
		avail := uint64(0)
		if acct.Balance > out {
			avail = acct.Balance - out
		}
		fmt.Fprintf(tw, "spendable\t%d\n", avail)
	} else {
		fmt.Fprintf(tw, "pending\tnone\n")
	}
	fmt.Fprintf(tw, "nonce\t%d confirmed, next transaction %d\n", acct.Nonce, next)
	tw.Flush()
	s.printf("%s", b.String())
	return nil
}
