// Package report turns benchmark results into the artefacts people read:
// a text table, results.json, results.csv, a log-log chart, and a comparison
// with the seed experiment's published figures.
//
// It knows nothing about how results were measured (that is internal/bench),
// so the formats can be tested, and regenerated from a results.json, on their own.
package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Baseline is the contestant every other one is compared with in the table:
// the library's per-producer lanes, the design the project recommends.
const Baseline = "fanin-lanes"

// Result is one cell of the matrix (one contestant at one producer count),
// summarised over its repeated runs. The JSON keys are a published format:
// scripts compare results.json files across machines and commits.
type Result struct {
	Strategy            string  `json:"strategy"`
	Producers           int     `json:"producers"`
	MessagesPerProducer int     `json:"messages_per_producer"`
	MessageSize         int     `json:"message_size"`
	Mode                string  `json:"mode"`
	Sink                string  `json:"sink"`
	Runs                int     `json:"runs"`
	NsPerMsgMin         float64 `json:"ns_per_msg_min"`
	NsPerMsgMedian      float64 `json:"ns_per_msg_median"`
	NsPerMsgMax         float64 `json:"ns_per_msg_max"`
	TotalMsMedian       float64 `json:"total_ms_median"`
	Verified            bool    `json:"verified"`
	AllocsPerMsg        float64 `json:"allocs_per_msg"`
	PeakHeapBytes       uint64  `json:"peak_heap_bytes"`
	// Latency percentiles exist only in framed mode, where messages carry
	// their send time; byte-mode results omit the keys rather than claim 0.
	LatencyP50Us float64 `json:"latency_p50_us,omitempty"`
	LatencyP99Us float64 `json:"latency_p99_us,omitempty"`

	// RoundMedians are the cell's median in each round, in the order the
	// rounds ran, when the matrix ran more than once (see MedianOfRounds).
	RoundMedians []float64 `json:"round_medians_ns_per_msg,omitempty"`

	// Single marks a cell whose first run was so long that it was not
	// repeated: its min, median and max are one measurement, not a spread.
	Single bool `json:"runs_single,omitempty"`
	// Note carries anything a reader of the numbers should know about the
	// cell (for example why it ran once).
	Note string `json:"note,omitempty"`
}

// Spread is (max-min)/median: how far to trust the median. Cells under a
// millisecond are noisy, and a 30% spread makes a 1.2x difference meaningless.
func (r Result) Spread() float64 {
	if r.NsPerMsgMedian == 0 {
		return 0
	}
	return (r.NsPerMsgMax - r.NsPerMsgMin) / r.NsPerMsgMedian
}

// Report is one benchmark invocation: the machine it ran on and its results.
// The machine fields are there because ns/msg figures mean nothing without them.
type Report struct {
	Go         string    `json:"go"`
	GOOS       string    `json:"goos"`
	GOARCH     string    `json:"goarch"`
	CPU        string    `json:"cpu"`
	CPUs       int       `json:"cpus"`
	GOMAXPROCS int       `json:"gomaxprocs"`
	Started    time.Time `json:"started"`
	// Command is the command line that produced the results, so a published
	// table can be reproduced exactly.
	Command string   `json:"command,omitempty"`
	Results []Result `json:"results"`
}

// New returns a Report describing the current machine and process, started now.
func New() Report {
	return Report{
		Go:         runtime.Version(),
		GOOS:       runtime.GOOS,
		GOARCH:     runtime.GOARCH,
		CPU:        CPUModel(),
		CPUs:       runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		Started:    time.Now().UTC().Truncate(time.Second),
		Results:    []Result{},
	}
}

// CPUModel returns the processor's model name from /proc/cpuinfo, or
// GOARCH where that file does not exist or has no model line (non-Linux,
// some ARM kernels), so the machine line is never empty.
func CPUModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err == nil {
		if m := cpuModel(b); m != "" {
			return m
		}
	}
	return runtime.GOARCH
}

// cpuModel finds the first model line; x86 calls it "model name", some
// ARM kernels "Processor" or "Hardware".
func cpuModel(cpuinfo []byte) string {
	keys := []string{"model name", "Processor", "Hardware", "cpu model"}
	found := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(cpuinfo))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.Join(strings.Fields(v), " ")
		if v == "" {
			continue
		}
		if _, seen := found[k]; !seen {
			found[k] = v
		}
	}
	for _, k := range keys {
		if v := found[k]; v != "" {
			return v
		}
	}
	return ""
}

// WriteJSON writes r as indented JSON (results.json).
func WriteJSON(w io.Writer, r Report) error {
	if r.Results == nil {
		r.Results = []Result{} // "results": [] rather than null for consumers
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// ReadJSON reads a results.json back, so artefacts can be regenerated
// (or compared) without re-running the benchmark.
func ReadJSON(rd io.Reader) (Report, error) {
	var r Report
	err := json.NewDecoder(rd).Decode(&r)
	return r, err
}

// Strategies returns the contestants present in results, in order of first
// appearance: the order the run that wrote them listed them in.
func Strategies(results []Result) []string { return strategies(results, nil) }

// strategies returns the contestants present in results, in the order given
// by order, followed by any others in order of first appearance.
func strategies(results []Result, order []string) []string {
	present := map[string]bool{}
	var seen []string
	for _, r := range results {
		if !present[r.Strategy] {
			present[r.Strategy] = true
			seen = append(seen, r.Strategy)
		}
	}
	var out []string
	for _, s := range order {
		if present[s] && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, s := range seen {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// producerCounts returns the distinct producer counts in results, ascending.
func producerCounts(results []Result) []int {
	var ps []int
	for _, r := range results {
		ps = append(ps, r.Producers)
	}
	slices.Sort(ps)
	return slices.Compact(ps)
}

// cellKey indexes results by contestant and producer count.
type cellKey struct {
	strategy  string
	producers int
}

func index(results []Result) map[cellKey]Result {
	m := make(map[cellKey]Result, len(results))
	for _, r := range results {
		m[cellKey{r.Strategy, r.Producers}] = r
	}
	return m
}
