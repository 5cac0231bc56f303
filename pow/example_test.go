package pow_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/gossipchain/gossipchain/pow"
)

func ExampleMiner_Search() {
	target, err := pow.TargetFromBits(pow.BitsForLeadingZeros(12))
	if err != nil {
		panic(err)
	}
	header := make([]byte, 92) // the last 8 bytes are the nonce
	copy(header, "previous hash, merkle root, time, bits...")

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nonce, hash, err := pow.NewMiner(0).Search(ctx, header, pow.TargetBytes(target))
	if err != nil {
		panic(err)
	}

	binary.BigEndian.PutUint64(header[len(header)-pow.NonceSize:], nonce)
	fmt.Println(sha256.Sum256(header) == hash, pow.HashMeetsTarget(&hash, target))
	// Output: true true
}
