package report

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// MachineLine describes where the numbers were measured, in one line that is
// printed above every table: figures from different machines are not comparable.
func MachineLine(r Report) string {
	return fmt.Sprintf("machine: %s, %d cpus, GOMAXPROCS %d, %s %s/%s",
		r.CPU, r.CPUs, r.GOMAXPROCS, r.Go, r.GOOS, r.GOARCH)
}

// WorkloadLine describes what was measured (mode, messages, size, sink),
// taken from the first result; empty when there are no results.
func WorkloadLine(results []Result) string {
	if len(results) == 0 {
		return ""
	}
	f := results[0]
	return fmt.Sprintf("workload: %s mode, %d messages per producer, %d B each, sink %s",
		f.Mode, f.MessagesPerProducer, f.MessageSize, f.Sink)
}

// FormatNs formats a per-message time (or any figure spanning several
// decades, such as latencies in µs) with about three significant digits:
// the table spans 1 ns to several µs and more digits would be noise.
func FormatNs(ns float64) string {
	switch {
	case ns < 10:
		return strconv.FormatFloat(ns, 'f', 2, 64)
	case ns < 100:
		return strconv.FormatFloat(ns, 'f', 1, 64)
	default:
		return strconv.FormatFloat(ns, 'f', 0, 64)
	}
}

// FormatRatio formats a ratio with about three significant digits, as
// FormatNs does: "1.42x", "27.3x", "2700x". The targets it is read against
// are lines such as 2x and 10x, which one decimal would blur.
func FormatRatio(x float64) string {
	return FormatNs(x) + "x"
}

// Table writes the machine line, the workload line and the results as a
// grid: one row per producer count, one column per contestant (in the given
// order; contestants not named in order follow), each cell the median ns per
// message and its ratio to baseline's cell (Baseline if empty), e.g.
// "3.10 (1.41x)". Ratios are the honest comparison: absolute figures move
// with the machine, ratios within one run much less, and within one round
// less still (see Ratio). Cells measured once are marked with '*'.
func Table(w io.Writer, r Report, order []string, baseline string) error {
	if baseline == "" {
		baseline = Baseline
	}
	var b strings.Builder
	b.WriteString(MachineLine(r) + "\n")
	if l := WorkloadLine(r.Results); l != "" {
		b.WriteString(l + "\n")
	}
	names := strategies(r.Results, order)
	cells := index(r.Results)
	hasBase, rounds := false, 0
	for _, n := range names {
		hasBase = hasBase || n == baseline
	}
	for _, c := range r.Results {
		rounds = max(rounds, len(c.RoundMedians))
	}
	switch {
	case hasBase && rounds > 1:
		fmt.Fprintf(&b, "cells: median ns per message (ratio to %s: the median of the %d rounds' ratios)\n", baseline, rounds)
	case hasBase:
		fmt.Fprintf(&b, "cells: median ns per message (ratio to %s)\n", baseline)
	default:
		b.WriteString("cells: median ns per message\n")
	}
	b.WriteString("\n")

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "producers\t")
	for _, n := range names {
		fmt.Fprintf(tw, "%s\t", n)
	}
	fmt.Fprintln(tw)
	single := false
	for _, p := range producerCounts(r.Results) {
		fmt.Fprintf(tw, "%d\t", p)
		base, baseOK := cells[cellKey{baseline, p}]
		for _, n := range names {
			c, ok := cells[cellKey{n, p}]
			if !ok {
				fmt.Fprint(tw, "-\t")
				continue
			}
			s := FormatNs(c.NsPerMsgMedian)
			if x, ok := Ratio(c, base); n != baseline && baseOK && ok {
				s += " (" + FormatRatio(x) + ")"
			}
			if c.Single {
				s += "*"
				single = true
			}
			fmt.Fprintf(tw, "%s\t", s)
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if single {
		b.WriteString("\n* measured once: the first run was long enough on its own\n")
	}
	if err := latencyGrid(&b, r.Results, names); err != nil {
		return err
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Ratio is c's time per message over base's. When both ran in the same
// rounds, it is the median over the rounds of the ratio within each round:
// a slow phase of the machine that hit one round then moves both cells of
// that round, not the ratio, while the ratio of the two cells' medians
// could set one round's figure against another's. Otherwise it is the
// ratio of the medians. It reports false when base has no time.
func Ratio(c, base Result) (float64, bool) {
	if n := len(c.RoundMedians); n > 1 && n == len(base.RoundMedians) {
		ratios := make([]float64, 0, n)
		for i, b := range base.RoundMedians {
			if b > 0 {
				ratios = append(ratios, c.RoundMedians[i]/b)
			}
		}
		if len(ratios) == n {
			return Median(ratios), true
		}
	}
	if base.NsPerMsgMedian <= 0 {
		return 0, false
	}
	return c.NsPerMsgMedian / base.NsPerMsgMedian, true
}

// Median is the median of a non-empty slice, the mean of the middle two for
// an even length. It does not reorder v.
func Median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// latencyGrid adds, when the results carry latencies (framed mode), the
// grid of median p50/p99 latency per cell: throughput alone hides a design
// that batches by making messages wait.
func latencyGrid(b *strings.Builder, results []Result, names []string) error {
	has := false
	for _, r := range results {
		has = has || r.LatencyP99Us > 0
	}
	if !has {
		return nil
	}
	b.WriteString("\nlatency, send to sink, p50 / p99 (µs)\n\n")
	cells := index(results)
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "producers\t")
	for _, n := range names {
		fmt.Fprintf(tw, "%s\t", n)
	}
	fmt.Fprintln(tw)
	for _, p := range producerCounts(results) {
		fmt.Fprintf(tw, "%d\t", p)
		for _, n := range names {
			c, ok := cells[cellKey{n, p}]
			if !ok || c.LatencyP99Us <= 0 {
				fmt.Fprint(tw, "-\t")
				continue
			}
			fmt.Fprintf(tw, "%s / %s\t", FormatNs(c.LatencyP50Us), FormatNs(c.LatencyP99Us))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// csvHeader is the CSV column order: the JSON keys, then the extras.
var csvHeader = []string{
	"strategy", "producers", "messages_per_producer", "message_size", "mode", "sink", "runs",
	"ns_per_msg_min", "ns_per_msg_median", "ns_per_msg_max", "total_ms_median", "verified",
	"allocs_per_msg", "peak_heap_bytes", "latency_p50_us", "latency_p99_us",
	"runs_single", "spread", "note",
}

// WriteCSV writes results as CSV with a header row, one row per cell in the
// given order, for spreadsheets and plotting tools. Latency columns are empty
// in byte mode rather than 0, as in the JSON.
func WriteCSV(w io.Writer, results []Result) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	opt := func(v float64) string {
		if v == 0 {
			return ""
		}
		return f(v)
	}
	for _, r := range results {
		row := []string{
			r.Strategy, strconv.Itoa(r.Producers), strconv.Itoa(r.MessagesPerProducer),
			strconv.Itoa(r.MessageSize), r.Mode, r.Sink, strconv.Itoa(r.Runs),
			f(r.NsPerMsgMin), f(r.NsPerMsgMedian), f(r.NsPerMsgMax), f(r.TotalMsMedian),
			strconv.FormatBool(r.Verified), f(r.AllocsPerMsg),
			strconv.FormatUint(r.PeakHeapBytes, 10), opt(r.LatencyP50Us), opt(r.LatencyP99Us),
			strconv.FormatBool(r.Single), strconv.FormatFloat(r.Spread(), 'f', 3, 64), r.Note,
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
