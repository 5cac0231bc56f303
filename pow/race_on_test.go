//go:build race

package pow

// raceEnabled: with -race the compiler stops turning append(b, make(...)...)
// into an in-place extend, so the stdlib's sha256 AppendBinary allocates and
// zero-allocation checks do not hold. Release builds are not instrumented.
const raceEnabled = true
