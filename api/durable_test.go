package api

import (
	"fmt"
	"net/http"
	"syscall"
	"testing"

	"github.com/gossipchain/gossipchain/chain"
)

// A transaction the node could not make durable (a full disk) is 503, with
// the log's message, which names the disk.
func TestNotDurableIs503(t *testing.T) {
	err := fmt.Errorf("tx x not accepted: %w", &chain.TxLogError{Path: "/data/txlog.dat", Err: syscall.ENOSPC})
	if got := statusFor(err); got != http.StatusServiceUnavailable {
		t.Fatalf("status %d, want 503", got)
	}
}
