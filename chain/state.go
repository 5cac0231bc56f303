package chain

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Account is an address's state after some block.
type Account struct {
	Balance uint64 `json:"balance"`
	Nonce   uint64 `json:"nonce"` // transactions sent so far = next nonce
}

func (a Account) isZero() bool { return a == Account{} }

// accountGetter reads an account from some state (head state, an overlay).
type accountGetter func(Address) Account

// overlay is a copy-on-write layer of account changes over a parent state.
// Blocks are applied to an overlay and only merged into the head state once
// they are committed to disk, so a failed block or reorg changes nothing.
type overlay struct {
	parent accountGetter
	accts  map[Address]Account
}

func newOverlay(parent accountGetter) *overlay {
	return &overlay{parent: parent, accts: make(map[Address]Account)}
}

func (o *overlay) get(a Address) Account {
	if acct, ok := o.accts[a]; ok {
		return acct
	}
	return o.parent(a)
}

// undoEntry is an account's value before a block touched it.
type undoEntry struct {
	addr Address
	prev Account
}

// applyBlock checks b's transactions against the state in o and applies them,
// returning the undo record that disconnectBlock needs. o must be empty (a
// fresh or cleared overlay over the state b applies to): an account is in
// o.accts exactly when the block touched it already, so the undo record
// needs no set of its own (at 2,000 transactions that set was half of
// applyBlock's map work). On error o may hold part of the block: callers
// apply blocks to a child overlay they discard.
func applyBlock(o *overlay, b *Block, reward uint64) ([]undoEntry, error) {
	if len(o.accts) != 0 {
		panic("chain: applyBlock on an overlay that is not empty") // a caller's bug: its undo record would be wrong
	}
	// Blocks mostly repeat accounts (2,000 transfers of 200 senders): the
	// record grows as needed rather than being made for 2 per transfer.
	undo := make([]undoEntry, 0, min(2*len(b.Txs)+1, 256))
	// touch reads an account for a change, noting its value before the
	// block the first time. Every touch is followed by a write to o.accts
	// (or the block fails), so o.accts is the set of accounts in undo.
	touch := func(a Address) Account {
		if acct, ok := o.accts[a]; ok {
			return acct
		}
		acct := o.parent(a)
		undo = append(undo, undoEntry{a, acct})
		return acct
	}
	var fees uint64
	for _, tx := range b.Txs[1:] {
		s := touch(tx.Sender)
		if tx.Nonce != s.Nonce {
			return nil, fmt.Errorf("block %s: tx %s nonce %d, want %d: %w", b.Hash(), tx.ID(), tx.Nonce, s.Nonce, ErrBadNonce)
		}
		cost := tx.Amount + tx.Fee // overflow ruled out by the sanity check
		if s.Balance < cost {
			return nil, fmt.Errorf("block %s: tx %s spends %d of %d: %w", b.Hash(), tx.ID(), cost, s.Balance, ErrInsufficientBalance)
		}
		s.Balance -= cost
		s.Nonce++
		o.accts[tx.Sender] = s
		r := touch(tx.Recipient)
		if r.Balance > math.MaxUint64-tx.Amount {
			return nil, fmt.Errorf("block %s: tx %s overflows the recipient: %w", b.Hash(), tx.ID(), ErrBadAmount)
		}
		r.Balance += tx.Amount
		o.accts[tx.Recipient] = r
		if fees > math.MaxUint64-tx.Fee {
			return nil, fmt.Errorf("block %s: fees overflow: %w", b.Hash(), ErrBadAmount)
		}
		fees += tx.Fee
	}
	cb := b.Txs[0]
	if fees > math.MaxUint64-reward || cb.Amount != reward+fees {
		return nil, fmt.Errorf("block %s: coinbase pays %d, want reward %d + fees %d: %w", b.Hash(), cb.Amount, reward, fees, ErrBadCoinbase)
	}
	m := touch(cb.Recipient)
	if m.Balance > math.MaxUint64-cb.Amount {
		return nil, fmt.Errorf("block %s: coinbase overflows the miner: %w", b.Hash(), ErrBadAmount)
	}
	m.Balance += cb.Amount
	o.accts[cb.Recipient] = m
	return undo, nil
}

// disconnectBlock restores the accounts a block changed.
func disconnectBlock(o *overlay, undo []undoEntry) {
	for i := len(undo) - 1; i >= 0; i-- {
		o.accts[undo[i].addr] = undo[i].prev
	}
}

const undoEntrySize = 32 + 16

func encodeUndo(undo []undoEntry) []byte {
	b := make([]byte, 0, 4+len(undo)*undoEntrySize)
	b = binary.BigEndian.AppendUint32(b, uint32(len(undo)))
	for _, u := range undo {
		b = append(b, u.addr[:]...)
		b = binary.BigEndian.AppendUint64(b, u.prev.Balance)
		b = binary.BigEndian.AppendUint64(b, u.prev.Nonce)
	}
	return b
}

func decodeUndo(b []byte) ([]undoEntry, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("undo record: %w", ErrMalformed)
	}
	n := binary.BigEndian.Uint32(b)
	b = b[4:]
	if uint64(len(b)) != uint64(n)*undoEntrySize {
		return nil, fmt.Errorf("undo record: %w", ErrMalformed)
	}
	undo := make([]undoEntry, n)
	for i := range undo {
		e := b[i*undoEntrySize:]
		copy(undo[i].addr[:], e[:32])
		undo[i].prev.Balance = binary.BigEndian.Uint64(e[32:])
		undo[i].prev.Nonce = binary.BigEndian.Uint64(e[40:])
	}
	return undo, nil
}

func encodeAccount(a Account) []byte {
	b := make([]byte, 16)
	binary.BigEndian.PutUint64(b, a.Balance)
	binary.BigEndian.PutUint64(b[8:], a.Nonce)
	return b
}

func decodeAccount(b []byte) (Account, error) {
	if len(b) != 16 {
		return Account{}, fmt.Errorf("account record: %w", ErrMalformed)
	}
	return Account{Balance: binary.BigEndian.Uint64(b), Nonce: binary.BigEndian.Uint64(b[8:])}, nil
}
