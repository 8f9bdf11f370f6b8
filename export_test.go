package fanin

// RaceEnabled is raceEnabled, for the external tests.
const RaceEnabled = raceEnabled

// LeastAllocs is leastAllocs, for the external tests.
var LeastAllocs = leastAllocs

// leastAllocs runs measure, which counts allocations, up to three times and
// returns the fewest it counted, stopping at 0. The counters are the
// process's: the runtime, or a goroutine an earlier test left winding down,
// allocates now and then, and so does a chunk pool still growing to its
// steady size. An allocation per message or per batch shows on every pass.
func leastAllocs(measure func() float64) float64 {
	least := measure()
	for range 2 {
		if least == 0 {
			break
		}
		least = min(least, measure())
	}
	return least
}
