//go:build race

package fanin

// raceEnabled reports whether the race detector is on: its runtime
// allocates now and then, which allocation counts must allow for.
const raceEnabled = true
