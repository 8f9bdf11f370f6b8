package wire

import "math/bits"

// The latency histogram is log-linear: values below histLinear nanoseconds
// are exact; above, every power of two is split into histSub buckets, so a
// bucket is at most 1/64 of its value wide and its midpoint is within ~0.8%
// of any value in it. Fixed size (about 30 KiB) whatever the run length.
const (
	histSubBits = 6
	histSub     = 1 << histSubBits
	histLinear  = 2 * histSub
	histBuckets = histLinear + (64-histSubBits-1)*histSub
)

// latencyHist records non-negative durations in nanoseconds.
type latencyHist struct {
	counts [histBuckets]uint64
	n      uint64
	max    uint64
}

func histBucket(v uint64) int {
	if v < histLinear {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBits - 1 // >= 1 because v >= histLinear
	return histLinear + (shift-1)*histSub + int(v>>shift) - histSub
}

// histMid is the value reported for bucket i: its midpoint.
func histMid(i int) uint64 {
	if i < histLinear {
		return uint64(i)
	}
	j := i - histLinear
	shift := uint(j/histSub + 1)
	lo := uint64(j%histSub+histSub) << shift
	return lo + (uint64(1)<<shift)/2
}

func (h *latencyHist) record(ns int64) {
	v := uint64(max(ns, 0)) // clocks of one machine; a negative latency is clock adjustment
	h.counts[histBucket(v)]++
	h.n++
	h.max = max(h.max, v)
}

// quantile returns the q-quantile (0 < q <= 1) in nanoseconds, 0 if empty.
// It never exceeds the exact maximum.
func (h *latencyHist) quantile(q float64) uint64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q * float64(h.n))
	if float64(rank) < q*float64(h.n) {
		rank++ // ceil: the smallest value with at least q of the samples at or below it
	}
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(histMid(i), h.max)
		}
	}
	return h.max
}
