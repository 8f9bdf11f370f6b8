// Command peers runs the fan-in benchmark of `fanin bench` with the peers
// added: the project's six contestants and the Go libraries a user might
// pick instead, in one run, through the same harness (internal/bench), sink,
// verification and reports (internal/report).
//
//	go run ./cmd/peers --quick --out /tmp/peers
//
// It prints the ns/msg table (ratio to fanin-lanes), a memory grid (peak
// heap, allocations per message) and each peer's limitations, and writes
// results.json, results.csv and the charts into --out. With --scenario
// overload|latency|all it runs fanin bench's overload and light-load
// latency scenarios instead, for the project's designs and the peers.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fanin-dev/fanin/benchmarks/peers"
	"github.com/fanin-dev/fanin/internal/bench"
	"github.com/fanin-dev/fanin/internal/report"
	"github.com/fanin-dev/fanin/internal/strategy"
	"github.com/fanin-dev/fanin/internal/wire"
)

const usage = `Usage: peers [flags]

Runs the project's contestants and the peers (other Go libraries) at every
producer count against a verifying sink, as "fanin bench" does, and prints
the table of median ns per message with the ratio to fanin-lanes, peak heap
and allocations per message, and what each peer cannot do. Every run is
verified: a run the sink rejects fails the command (exit status 1).

Writes results.json, results.csv, chart.svg and chart.png into --out.

With --scenario, runs fanin bench's overload and light-load latency
scenarios instead, for the project's designs and every peer, and writes
scenarios.json into --out.

Flags:
`

// quickDefaults are fanin bench's: a verified smoke run that takes seconds.
var quickDefaults = map[string]string{
	"producers": "1,16,256",
	"messages":  "200",
	"min-time":  "20ms",
	"min-runs":  "2",
	"max-runs":  "5",
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("peers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	all := peers.Contestants()
	producers := fs.String("producers", joinInts(bench.DefaultProducers), "comma-separated producer counts")
	strategies := fs.String("strategies", "all", "comma-separated contestants, all, or peers (the peers plus fanin-lanes): "+strings.Join(names(all), ", "))
	messages := fs.Int("messages", bench.DefaultMessages, "messages per producer")
	mode := fs.String("mode", "byte", "message format: byte or framed (framed gives latency)")
	size := fs.Int("size", 0, fmt.Sprintf("bytes per message in framed mode; 0: %d", bench.DefaultFramedSize))
	sinkKind := fs.String("sink", bench.SinkTCP, "tcp (loopback to an in-process sink) or mem (in-memory verifier)")
	addr := fs.String("addr", "", "HOST:PORT of an external `fanin serve` (tcp only)")
	out := fs.String("out", "peers-results", "directory for results.json, results.csv, chart.svg, chart.png; empty: no files")
	quick := fs.Bool("quick", false, "smoke run: producers 1,16,256, 200 messages, few repeats, still verified (explicit flags win)")
	minTime := fs.Duration("min-time", bench.DefaultMinTime, "repeat each cell until its runs add up to at least this")
	minRuns := fs.Int("min-runs", bench.DefaultMinRuns, "run each cell at least this many times")
	maxRuns := fs.Int("max-runs", bench.DefaultMaxRuns, "run each cell at most this many times")
	longRun := fs.Duration("long-run", bench.DefaultLongRun, "a cell whose first run takes this long runs once; negative: always repeat")
	runTimeout := fs.Duration("run-timeout", 0, "fail if one run takes longer than this; 0: bench's default")
	jsonOut := fs.Bool("json", false, "print results.json on stdout instead of the tables")
	scenario := fs.String("scenario", "", "run scenarios instead of the matrix, the project's designs and the peers: overload, latency, or all (comma-separated); writes scenarios.json into --out")
	scenarioTime := fs.Duration("scenario-time", 0, "with --scenario: how long each design is measured; 0: overload 5s, latency 3s")
	fs.Usage = func() {}

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fmt.Fprint(stdout, usage)
			fs.PrintDefaults()
			return 0
		}
		fmt.Fprintln(stderr, `Run "peers --help" for the flags.`)
		return 2
	}
	if fs.NArg() > 0 {
		return badFlag(stderr, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	if *scenario != "" {
		return runScenarios(*scenario, *scenarioTime, *out, args, stdout, stderr)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *quick {
		for name, v := range quickDefaults {
			if !set[name] {
				_ = fs.Set(name, v) // fixed, valid values
			}
		}
	}

	cfg := bench.Config{
		Messages: *messages, Size: *size, Sink: *sinkKind, Addr: *addr,
		MinTime: *minTime, MinRuns: *minRuns, MaxRuns: *maxRuns, LongRun: *longRun,
		RunTimeout: *runTimeout,
	}
	var err error
	if cfg.Producers, err = bench.ParseProducers(*producers); err != nil {
		return badFlag(stderr, "--producers: "+err.Error())
	}
	if cfg.Strategies, err = parseStrategies(*strategies, all); err != nil {
		return badFlag(stderr, "--strategies: "+err.Error())
	}
	if cfg.Mode, err = wire.ParseMode(*mode); err != nil {
		return badFlag(stderr, "--mode: "+err.Error())
	}
	switch {
	case *messages < 1:
		return badFlag(stderr, "--messages must be at least 1")
	case *size < 0:
		return badFlag(stderr, "--size must not be negative")
	case *minTime < 0:
		return badFlag(stderr, "--min-time must not be negative")
	}
	if cfg.Mode == wire.Byte {
		if *size > 1 {
			return badFlag(stderr, "--size applies to framed mode only")
		}
		cfg.Size = 1
	}
	if *minTime == 0 {
		cfg.MinTime = -1 // bench's "no minimum"; its 0 means "default"
	}
	if err := cfg.Validate(); err != nil {
		return badFlag(stderr, err.Error())
	}

	rep := report.New()
	rep.Command = "go run ./cmd/peers " + strings.Join(args, " ")
	order := names(cfg.Strategies)
	cfg.Progress = func(p bench.Progress) {
		if r := p.Result; r != nil {
			fmt.Fprintf(stderr, "[%d/%d] %-18s producers %-5d %10s ns/msg  %2d runs  eta %v\n",
				p.Done, p.Total, r.Strategy, r.Producers, report.FormatNs(r.NsPerMsgMedian), r.Runs, p.ETA.Round(1e8))
		}
	}
	results, err := bench.Run(context.Background(), cfg)
	if err != nil {
		var ve *bench.VerifyError
		if errors.As(err, &ve) {
			fmt.Fprintf(stderr, "peers: VERIFICATION FAILED: %v\n", err)
		} else {
			fmt.Fprintf(stderr, "peers: %v\n", err)
		}
		return 1
	}
	rep.Results = annotate(results)

	if *jsonOut {
		err = report.WriteJSON(stdout, rep)
	} else {
		err = writeTables(stdout, rep, order)
	}
	if err == nil && *out != "" {
		err = report.WriteFiles(*out, rep, order)
		if err == nil {
			fmt.Fprintf(stderr, "wrote results.json, results.csv, %s, %s in %s\n", report.ChartSVG, report.ChartPNG, *out)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "peers: %v\n", err)
		return 1
	}
	return 0
}

// runScenarios is `peers --scenario`: fanin bench's overload and latency
// scenarios with every peer measured after the project's designs. The idle
// scenario is not offered: its subjects are the library's own.
func runScenarios(list string, d time.Duration, out string, args []string, stdout, stderr io.Writer) int {
	var names []string
	if strings.TrimSpace(list) == bench.ScenarioAll {
		names = []string{bench.ScenarioOverload, bench.ScenarioLatency}
	} else {
		var err error
		if names, err = bench.ParseScenarios(list); err != nil {
			return badFlag(stderr, "--scenario: "+err.Error())
		}
		if slices.Contains(names, bench.ScenarioIdle) {
			return badFlag(stderr, "--scenario: idle measures the library alone: run it with fanin bench")
		}
	}
	if d < 0 {
		return badFlag(stderr, "--scenario-time must not be negative")
	}
	cfg := bench.ScenarioConfig{Duration: d, Extra: peers.ScenarioDesigns(), Log: stderr}
	res, err := bench.RunScenarios(context.Background(), names, cfg)
	res.Command = "go run ./cmd/peers " + strings.Join(args, " ")
	if err != nil {
		fmt.Fprintf(stderr, "peers: %v\n", err)
		return 1
	}
	if err := bench.WriteScenarioTables(stdout, res); err != nil {
		fmt.Fprintf(stderr, "peers: %v\n", err)
		return 1
	}
	fmt.Fprint(stdout, "\nLimitations\n\n")
	for _, p := range peers.All() {
		fmt.Fprintf(stdout, "- %s: %s\n", p.Name(), p.Limitations())
	}
	if out != "" {
		if err := bench.WriteScenariosJSON(out, res); err != nil {
			fmt.Fprintf(stderr, "peers: %v\n", err)
			return 1
		}
		fmt.Fprintf(stderr, "wrote %s in %s\n", bench.ScenariosJSON, out)
	}
	return 0
}

// annotate puts each peer's limitations into its results' Note, so that
// results.json and results.csv carry them next to the numbers.
func annotate(results []report.Result) []report.Result {
	lim := peers.Limitations()
	for i := range results {
		if l, ok := lim[results[i].Strategy]; ok {
			results[i].Note = strings.TrimPrefix(results[i].Note+"; limitations: "+l, "; ")
		}
	}
	return results
}

// writeTables writes report.Table, then what that table leaves out but the
// comparison with peers needs: peak heap and allocations per message (an
// unbounded peer's cost is memory, not time), and each peer's limitations.
func writeTables(w io.Writer, rep report.Report, order []string) error {
	if err := report.Table(w, rep, order); err != nil {
		return err
	}
	fmt.Fprint(w, "\npeak heap (MiB) / allocations per message, worst over the cell's runs / mean\n\n")
	type key struct {
		s string
		p int
	}
	cells := map[key]report.Result{}
	var ps []int
	for _, r := range rep.Results {
		cells[key{r.Strategy, r.Producers}] = r
		if !slices.Contains(ps, r.Producers) {
			ps = append(ps, r.Producers)
		}
	}
	slices.Sort(ps)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "producers\t")
	for _, n := range order {
		fmt.Fprintf(tw, "%s\t", n)
	}
	fmt.Fprintln(tw)
	for _, p := range ps {
		fmt.Fprintf(tw, "%d\t", p)
		for _, n := range order {
			r, ok := cells[key{n, p}]
			if !ok {
				fmt.Fprint(tw, "-\t")
				continue
			}
			fmt.Fprintf(tw, "%.1f / %.2f\t", float64(r.PeakHeapBytes)/(1<<20), r.AllocsPerMsg)
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	lim := peers.Limitations()
	first := true
	for _, n := range order {
		if l, ok := lim[n]; ok {
			if first {
				fmt.Fprint(w, "\nLimitations\n\n")
				first = false
			}
			fmt.Fprintf(w, "- %s: %s\n", n, l)
		}
	}
	return nil
}

// parseStrategies accepts names from all, "all", or "peers" (every peer
// with fanin-lanes, the baseline the table's ratios need).
func parseStrategies(s string, all []strategy.Strategy) ([]strategy.Strategy, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "", "all":
		return all, nil
	case "peers":
		out := []strategy.Strategy{strategy.FaninLanes{}}
		for _, p := range peers.All() {
			out = append(out, p)
		}
		return out, nil
	}
	var out []strategy.Strategy
	for name := range strings.SplitSeq(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" || slices.ContainsFunc(out, func(x strategy.Strategy) bool { return x.Name() == name }) {
			continue
		}
		i := slices.IndexFunc(all, func(x strategy.Strategy) bool { return x.Name() == name })
		if i < 0 {
			return nil, fmt.Errorf("unknown contestant %q (valid: %s)", name, strings.Join(names(all), ", "))
		}
		out = append(out, all[i])
	}
	if len(out) == 0 {
		return nil, errors.New("no contestants")
	}
	return out, nil
}

func names(ss []strategy.Strategy) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Name()
	}
	return out
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ",")
}

func badFlag(stderr io.Writer, msg string) int {
	fmt.Fprintf(stderr, "peers: %s\nRun \"peers --help\" for the flags.\n", msg)
	return 2
}
