package chain

import (
	"crypto/sha256"
	"encoding/binary"
)

// Genesis is the network's first block, computed from its parameters alone
// (fixed timestamp, no randomness), so every node of a network derives the
// same genesis hash. Its Merkle root commits to every parameter: two networks
// that differ in any rule have different genesis blocks. It carries no
// transactions and needs no proof of work: nobody mines it.
func Genesis(p Params) *Block {
	return &Block{Header: Header{
		Index:      1,
		Timestamp:  p.GenesisTime.UnixMilli(),
		MerkleRoot: paramsCommitment(p),
		Bits:       p.InitialBits,
		Nonce:      100, // the tutorial's genesis proof
	}}
}

func paramsCommitment(p Params) Hash {
	b := []byte("gossipchain/genesis/v1\x00" + p.Name + "\x00")
	b = binary.BigEndian.AppendUint32(b, p.InitialBits)
	b = binary.BigEndian.AppendUint32(b, p.LimitBits)
	b = binary.BigEndian.AppendUint64(b, uint64(p.TargetSpacing))
	b = binary.BigEndian.AppendUint64(b, p.RetargetInterval)
	b = binary.BigEndian.AppendUint64(b, p.BlockReward)
	b = binary.BigEndian.AppendUint64(b, uint64(p.MaxBlockTxs))
	b = binary.BigEndian.AppendUint64(b, uint64(p.MaxBlockBytes))
	b = binary.BigEndian.AppendUint64(b, uint64(p.MaxFutureDrift))
	b = binary.BigEndian.AppendUint64(b, uint64(p.GenesisTime.UnixMilli()))
	return sha256.Sum256(b)
}
