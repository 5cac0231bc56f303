package chain

import "errors"

// One sentinel per validation rule. Callers wrap them with context
// (fmt.Errorf("block %x: %w", h, ErrBadPoW)) and test with errors.Is.
var (
	// Encoding.
	ErrMalformed = errors.New("malformed encoding")

	// Block rules.
	ErrBadPoW          = errors.New("proof of work does not meet target")
	ErrBadDifficulty   = errors.New("wrong difficulty for height")
	ErrUnknownParent   = errors.New("unknown previous block")
	ErrBadPrevHash     = errors.New("wrong previous hash")
	ErrBadIndex        = errors.New("wrong block index")
	ErrBadMerkleRoot   = errors.New("wrong merkle root")
	ErrTimeTooNew      = errors.New("timestamp too far in the future")
	ErrTimeTooOld      = errors.New("timestamp not after median of last blocks")
	ErrBadCoinbase     = errors.New("bad coinbase")
	ErrBlockTooBig     = errors.New("block over size limit")
	ErrTooManyTxs      = errors.New("block over transaction-count limit")
	ErrDuplicateTx     = errors.New("duplicate transaction")
	ErrInvalidAncestor = errors.New("block descends from an invalid block")
	ErrBadGenesis      = errors.New("genesis block does not match network")
	ErrLowWorkBranch   = errors.New("branch has too little work to be stored")
	ErrTooManyHeaders  = errors.New("header chain over the session limit")

	// Transaction rules.
	ErrBadSignature        = errors.New("bad or missing signature")
	ErrBadAmount           = errors.New("amount zero or overflowing")
	ErrInsufficientBalance = errors.New("insufficient balance")
	ErrBadNonce            = errors.New("wrong nonce")
	ErrBadAddress          = errors.New("bad address")

	// Mempool admission.
	ErrMempoolFull = errors.New("mempool full and fee too low to evict")
	ErrKnownTx     = errors.New("transaction already known")

	// Not a rule break: our own store failed, the input may be fine.
	ErrStoreFailed = errors.New("store write failed")

	// Not a rule break: the block is already stored.
	ErrKnownBlock = errors.New("block already known")
	// Lookups.
	ErrNotFound = errors.New("not found")
)
