package report

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// MedianOfRounds combines rounds of the same matrix, run one after another,
// into one: each cell is the round whose median is the median of the
// rounds' medians (the lower one for an even count), so that its figures
// belong together, with the min and max over every run of every round, the
// runs summed, the worst peak heap, and each round's median, in
// RoundMedians and in a note.
// A machine's slow phase then shows as spread instead of as the result.
//
// Every round must hold the same cells (strategy and producer count), as
// the same command run again does; the result keeps the first round's order.
func MedianOfRounds(rounds [][]Result) ([]Result, error) {
	if len(rounds) == 0 {
		return nil, nil
	}
	type cell struct {
		strategy  string
		producers int
	}
	key := func(r Result) cell { return cell{r.Strategy, r.Producers} }
	byCell := make(map[cell][]Result, len(rounds[0]))
	for i, round := range rounds {
		if len(round) != len(rounds[0]) {
			return nil, fmt.Errorf("round %d has %d cells, round 1 has %d", i+1, len(round), len(rounds[0]))
		}
		for _, r := range round {
			byCell[key(r)] = append(byCell[key(r)], r)
		}
	}
	out := make([]Result, 0, len(rounds[0]))
	for _, first := range rounds[0] {
		rs := byCell[key(first)]
		if len(rs) != len(rounds) {
			return nil, fmt.Errorf("%s at %d producers is in %d of %d rounds", first.Strategy, first.Producers, len(rs), len(rounds))
		}
		sorted := slices.Clone(rs)
		slices.SortStableFunc(sorted, func(a, b Result) int { return cmp.Compare(a.NsPerMsgMedian, b.NsPerMsgMedian) })
		m := sorted[(len(sorted)-1)/2]
		m.Runs = 0
		medians := make([]string, len(rs))
		m.RoundMedians = make([]float64, len(rs))
		for i, r := range rs {
			m.RoundMedians[i] = r.NsPerMsgMedian
			m.Runs += r.Runs
			m.NsPerMsgMin = min(m.NsPerMsgMin, r.NsPerMsgMin)
			m.NsPerMsgMax = max(m.NsPerMsgMax, r.NsPerMsgMax)
			m.PeakHeapBytes = max(m.PeakHeapBytes, r.PeakHeapBytes)
			m.Verified = m.Verified && r.Verified
			medians[i] = strconv.FormatFloat(r.NsPerMsgMedian, 'g', 3, 64)
		}
		note := fmt.Sprintf("median of %d rounds (ns/msg: %s)", len(rs), strings.Join(medians, ", "))
		if m.Note != "" {
			note = m.Note + "; " + note
		}
		m.Note = note
		out = append(out, m)
	}
	return out, nil
}
