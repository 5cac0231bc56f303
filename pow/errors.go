package pow

import "errors"

// Sentinel errors; callers test for them with errors.Is.
var (
	// ErrInvalidBits reports compact bits whose target is negative, zero,
	// or wider than 256 bits.
	ErrInvalidBits = errors.New("pow: invalid difficulty bits")

	// ErrHeaderTooShort reports a header with no room for the nonce.
	ErrHeaderTooShort = errors.New("pow: header shorter than nonce")

	// ErrNonceSpaceExhausted reports that every 64-bit nonce was tried
	// without meeting the target: the caller must change the header.
	ErrNonceSpaceExhausted = errors.New("pow: nonce space exhausted")

	// ErrInvalidDuration reports a non-positive measurement duration.
	ErrInvalidDuration = errors.New("pow: invalid duration")
)
