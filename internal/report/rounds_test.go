package report

import (
	"slices"
	"strings"
	"testing"
)

func TestMedianOfRounds(t *testing.T) {
	round := func(lanes, fanin float64, verified bool) []Result {
		l, f := byteResult("fanin-lanes", 256, lanes), byteResult("fanin", 256, fanin)
		f.Verified = verified
		return []Result{l, f}
	}
	slow := round(9, 30, true) // a slow phase of the machine
	slow[0].PeakHeapBytes = 5 << 20
	fast := round(6, 12, true)
	got, err := MedianOfRounds([][]Result{fast, slow, round(7, 13, false)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Strategy != "fanin-lanes" || got[1].Strategy != "fanin" {
		t.Fatalf("cells %+v, want the first round's order", got)
	}
	lanes, fanin := got[0], got[1]
	if lanes.NsPerMsgMedian != 7 || fanin.NsPerMsgMedian != 13 {
		t.Errorf("medians %v and %v, want 7 and 13: the median round of each cell", lanes.NsPerMsgMedian, fanin.NsPerMsgMedian)
	}
	// The median round's own runs span 6.3-8.4; all the rounds' span wider.
	if lanes.NsPerMsgMin != fast[0].NsPerMsgMin || lanes.NsPerMsgMax != slow[0].NsPerMsgMax || lanes.Runs != 9 || lanes.PeakHeapBytes != 5<<20 {
		t.Errorf("lanes %+v: want min and max over every round, runs summed, worst peak heap", lanes)
	}
	if !lanes.Verified || fanin.Verified {
		t.Errorf("verified: lanes %v, fanin %v; want a cell verified only if every round was", lanes.Verified, fanin.Verified)
	}
	if !strings.Contains(fanin.Note, "median of 3 rounds (ns/msg: 12, 30, 13)") {
		t.Errorf("note %q does not list the rounds' medians", fanin.Note)
	}
	if !slices.Equal(fanin.RoundMedians, []float64{12, 30, 13}) {
		t.Errorf("RoundMedians %v, want 12, 30, 13 in the rounds' order", fanin.RoundMedians)
	}

	if got, err := MedianOfRounds([][]Result{round(6, 12, true), round(6, 12, true)}); err != nil || got[0].NsPerMsgMedian != 6 {
		t.Errorf("two equal rounds: %+v, %v", got, err)
	}
	if _, err := MedianOfRounds([][]Result{round(6, 12, true), round(6, 12, true)[:1]}); err == nil {
		t.Error("rounds with different cells: no error")
	}
	other := round(6, 12, true)
	other[1].Producers = 1024
	if _, err := MedianOfRounds([][]Result{round(6, 12, true), other}); err == nil {
		t.Error("rounds with different producer counts: no error")
	}
}
