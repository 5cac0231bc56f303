package chain

import (
	"encoding/hex"
	"fmt"
	"strings"
	"time"
)

// JSON shapes for the HTTP edge, like the tutorial's (index, timestamp,
// transactions, proof, previous_hash) with more fields. Nothing is hashed
// over these.

// TxJSON is a transaction as the API shows it.
type TxJSON struct {
	ID        string `json:"id"`
	Sender    string `json:"sender"`
	Recipient string `json:"recipient"`
	Amount    uint64 `json:"amount"`
	Fee       uint64 `json:"fee"`
	Nonce     uint64 `json:"nonce"`
	Signature string `json:"signature"`
}

// BlockJSON is a block as the API shows it. Timestamp is unix seconds, as
// the tutorial's time(); proof is the nonce.
type BlockJSON struct {
	Index        uint64   `json:"index"`
	Timestamp    float64  `json:"timestamp"`
	Transactions []TxJSON `json:"transactions"`
	Proof        uint64   `json:"proof"`
	PreviousHash string   `json:"previous_hash"`
	Hash         string   `json:"hash"`
	MerkleRoot   string   `json:"merkle_root"`
	Difficulty   uint32   `json:"difficulty"`
}

// JSON converts tx for the API.
func (tx *Tx) JSON() TxJSON {
	sig := ""
	if !tx.IsCoinbase() {
		sig = hex.EncodeToString(tx.Signature[:])
	}
	return TxJSON{
		ID:        tx.ID().String(),
		Sender:    tx.Sender.String(),
		Recipient: tx.Recipient.String(),
		Amount:    tx.Amount,
		Fee:       tx.Fee,
		Nonce:     tx.Nonce,
		Signature: sig,
	}
}

// JSON converts b for the API.
func (b *Block) JSON() BlockJSON {
	txs := make([]TxJSON, len(b.Txs))
	for i, tx := range b.Txs {
		txs[i] = tx.JSON()
	}
	return BlockJSON{
		Index:        b.Index,
		Timestamp:    float64(b.Timestamp) / 1000,
		Transactions: txs,
		Proof:        b.Nonce,
		PreviousHash: b.PrevHash.String(),
		Hash:         b.Hash().String(),
		MerkleRoot:   b.MerkleRoot.String(),
		Difficulty:   b.Bits,
	}
}

// Time is the block's timestamp as a time.Time.
func (h *Header) Time() time.Time { return time.UnixMilli(h.Timestamp) }

// ParseTxJSON reads a signed transaction submitted by an API client. The id,
// when given, must match.
func ParseTxJSON(j TxJSON) (*Tx, error) {
	s, err := ParseAddress(j.Sender)
	if err != nil {
		return nil, fmt.Errorf("sender: %w", err)
	}
	r, err := ParseAddress(j.Recipient)
	if err != nil {
		return nil, fmt.Errorf("recipient: %w", err)
	}
	tx := &Tx{Sender: s, Recipient: r, Amount: j.Amount, Fee: j.Fee, Nonce: j.Nonce}
	sig, err := hex.DecodeString(j.Signature)
	if err != nil || len(sig) != len(tx.Signature) {
		return nil, fmt.Errorf("signature: want 128 hex characters: %w", ErrBadSignature)
	}
	copy(tx.Signature[:], sig)
	if j.ID != "" && !strings.EqualFold(j.ID, tx.ID().String()) {
		return nil, fmt.Errorf("id %s does not match transaction %s: %w", j.ID, tx.ID(), ErrMalformed)
	}
	return tx, nil
}
