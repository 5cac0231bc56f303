// Package chain is the ledger of gossipchain: blocks and transactions, their
// canonical binary encoding and hashes, signatures, validation rules (one
// sentinel error per rule), account state, the block tree with fork choice by
// cumulative work, reorganisations, the orphan pool, the mempool and the
// on-disk store.
//
// It must not import libp2p or net/http: the node and the API call it.
package chain
