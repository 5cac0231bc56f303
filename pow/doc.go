// Package pow holds gossipchain's proof-of-work rules and machinery: compact
// difficulty bits and the targets they encode, the work a target represents,
// difficulty retargeting, and a parallel, cancellable nonce miner.
//
// Hashes are single SHA-256 digests read as big-endian 256-bit numbers, so a
// hash meets a target with n leading zero bits when its hex form starts with
// n/4 zeros (the tutorial's rule). Targets travel as Bitcoin-style compact
// "bits".
//
// The package knows nothing of blocks, transactions or networking: a header
// is an opaque byte slice whose last NonceSize bytes are the nonce.
package pow
