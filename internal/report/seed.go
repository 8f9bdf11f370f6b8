package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// SeedRow is one row of the seed experiment's published results: total
// microseconds for Workers workers x SeedMessages one-byte messages each.
type SeedRow struct {
	Workers      int
	StdMutexUs   float64 // actor B, std::sync::Mutex swap buffer
	TokioMpscUs  float64 // actor A, one recv and one write per message
	TokioMutexUs float64 // actor B with tokio's async Mutex
}

// SeedMessages is the seed's SAMPLE_SIZE: messages per worker.
const SeedMessages = 1000

// SeedMachine is where the seed's figures were measured.
const SeedMachine = "8-core Ryzen 9 5900HS, Rust/tokio"

// Seed holds the seed's published figures (shared/seed/README.md), so that
// every run can be put beside them. Its mutex figures stop the clock when the
// first worker finishes, so they understate the real time.
var Seed = []SeedRow{
	{1, 67.8, 57.8, 3159.9},
	{2, 70.0, 101.7, 3500.4},
	{4, 103.5, 394.9, 4477.4},
	{8, 115.8, 815.7, 5988.5},
	{16, 117.5, 1293.1, 7336.6},
	{32, 124.7, 2511.6, 10169},
	{64, 114.5, 4892.7, 13300},
	{128, 205.3, 9850.9, 20195},
	{256, 367.6, 19192, 35342},
	{512, 672.3, 38542, 68178},
	{1024, 849.5, 77073, 132050},
	{2048, 1279.4, 148280, 251470},
	{4096, 2651.9, 326080, 513510},
	{8192, 5778.9, 618660, 1075400},
}

// seedNsPerMsg converts a seed total (µs for workers x 1000 messages) to ns per message.
func seedNsPerMsg(totalUs float64, workers int) float64 {
	return totalUs * 1000 / float64(workers*SeedMessages)
}

// SeedTable writes the seed's figures beside ours, per producer count of our
// results. Machines and languages differ, so what is comparable are ratios:
// the seed's mpsc/mutex against our chan-serial/mutex-swap (does the
// one-write-per-message collapse reproduce?), and how much faster our
// fanin is than both our mutex-swap and our chan-serial. All times are ns
// per message; "-" where a figure does not exist.
func SeedTable(w io.Writer, r Report) error {
	seed := map[int]SeedRow{}
	for _, s := range Seed {
		seed[s.Workers] = s
	}
	cells := index(r.Results)
	ns := func(name string, p int) (float64, bool) {
		c, ok := cells[cellKey{name, p}]
		return c.NsPerMsgMedian, ok && c.NsPerMsgMedian > 0
	}
	num := func(v float64, ok bool) string {
		if !ok {
			return "-"
		}
		return FormatNs(v)
	}
	ratio := func(a float64, aok bool, b float64, bok bool) string {
		if !aok || !bok || b == 0 {
			return "-"
		}
		return FormatRatio(a / b)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "seed comparison (ns per message; seed: %s, %d messages per worker;\n", SeedMachine, SeedMessages)
	b.WriteString("its mutex clock stopped at the first worker to finish, so its mutex figures are too low)\n")
	if l := WorkloadLine(r.Results); l != "" {
		b.WriteString("ours: " + strings.TrimPrefix(l, "workload: ") + "\n")
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "producers\tseed mutex\tseed mpsc\tseed mpsc/mutex\tmutex-swap\tchan-serial\tchan-serial/mutex-swap\tfanin\tmutex-swap/fanin\tchan-serial/fanin\t")
	for _, p := range producerCounts(r.Results) {
		s, sok := seed[p]
		sm, smok := seedNsPerMsg(s.StdMutexUs, p), sok
		sc, scok := seedNsPerMsg(s.TokioMpscUs, p), sok
		mx, mxok := ns("mutex-swap", p)
		cs, csok := ns("chan-serial", p)
		fi, fiok := ns("fanin", p)
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", p,
			num(sm, smok), num(sc, scok), ratio(sc, scok, sm, smok),
			num(mx, mxok), num(cs, csok), ratio(cs, csok, mx, mxok),
			num(fi, fiok), ratio(mx, mxok, fi, fiok), ratio(cs, csok, fi, fiok))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := io.WriteString(w, b.String())
	return err
}
