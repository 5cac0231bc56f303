//go:build race

package main

// raceEnabled: the binary under test is built with -race too.
const raceEnabled = true
