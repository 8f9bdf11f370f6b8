// Command peers runs the fan-in benchmark of `fanin bench` with the peers
// added: the project's contestants and the Go libraries a user might
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
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/fanin-dev/fanin/benchmarks/peers"
	"github.com/fanin-dev/fanin/internal/bench"
	"github.com/fanin-dev/fanin/internal/benchcli"
	"github.com/fanin-dev/fanin/internal/report"
	"github.com/fanin-dev/fanin/internal/strategy"
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

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	all := peers.Contestants()
	return benchcli.Run(args, stdout, stderr, benchcli.Command{
		Name:        "peers",
		CommandLine: "go run ./cmd/peers",
		Usage:       usage,
		OutDefault:  "peers-results",
		FlagHelp: map[string]string{
			"strategies":    "comma-separated contestants, all, or peers (the peers plus fanin-lanes): " + strings.Join(names(all), ", "),
			"quick":         "smoke run: producers 1,16,256, 200 messages, few repeats, still verified (explicit flags win)",
			"json":          "print results.json on stdout instead of the tables",
			"scenario":      "run scenarios instead of the matrix, the project's designs and the peers: overload, latency, or all (comma-separated); writes scenarios.json into --out",
			"scenario-time": "with --scenario: how long each design is measured; 0: overload 5s, latency 3s",
		},
		Strategies:      all,
		ParseStrategies: func(s string) ([]strategy.Strategy, error) { return parseStrategies(s, all) },
		Annotate:        annotate,
		AfterTable:      writeTables,
		ParseScenarios:  parseScenarios,
		ExtraDesigns:    peers.ScenarioDesigns(),
		AfterScenarios:  writeLimitations,
	})
}

// parseScenarios accepts fanin bench's overload and latency scenarios, all
// meaning both. The idle scenario is not offered: its subjects are the
// library's own.
func parseScenarios(list string) ([]string, error) {
	if strings.TrimSpace(list) == bench.ScenarioAll {
		return []string{bench.ScenarioOverload, bench.ScenarioLatency}, nil
	}
	names, err := bench.ParseScenarios(list)
	if err != nil {
		return nil, err
	}
	if slices.Contains(names, bench.ScenarioIdle) {
		return nil, errors.New("idle measures the library alone: run it with fanin bench")
	}
	return names, nil
}

// writeLimitations lists every peer's limitations, after the scenario tables.
func writeLimitations(w io.Writer) {
	fmt.Fprint(w, "\nLimitations\n\n")
	for _, p := range peers.All() {
		fmt.Fprintf(w, "- %s: %s\n", p.Name(), p.Limitations())
	}
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

// writeTables writes, after report.Table, what that table leaves out but
// the comparison with peers needs: peak heap and allocations per message
// (an unbounded peer's cost is memory, not time), and each peer's
// limitations.
func writeTables(w io.Writer, rep report.Report, order []string) error {
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
	if strings.TrimSpace(s) == "peers" {
		out := []strategy.Strategy{strategy.FaninLanes{}}
		for _, p := range peers.All() {
			out = append(out, p)
		}
		return out, nil
	}
	return benchcli.Select(s, all)
}

// names is benchcli.Names, under the name the tests use.
var names = benchcli.Names
