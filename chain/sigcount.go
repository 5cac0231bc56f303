package chain

import "sync/atomic"

// sigChecks counts signature verifications: a test hook, so tests can show
// which paths verify signatures and which do not.
var sigChecks atomic.Int64
