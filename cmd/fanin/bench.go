package main

import (
	"io"

	"github.com/fanin-dev/fanin/internal/benchcli"
)

const benchUsage = `Usage: fanin bench [flags]

Runs every contestant at every producer count against a verifying sink,
repeats each cell until its median is stable, and prints a table of median
ns per message with the ratio to fanin-lanes. Every run is verified: a run
the sink rejects fails the command (exit status 1).

Writes results.json, results.csv, chart.svg and chart.png into --out.

Flags:
`

// runBench is `fanin bench`: the project's contestants, scenarios and soak,
// through the command line shared with the peers command.
func runBench(args []string, stdout, stderr io.Writer) int {
	return benchcli.Run(args, stdout, stderr, benchcli.Command{
		Name:        "fanin bench",
		CommandLine: "fanin bench",
		Usage:       benchUsage,
		Soak:        true,
	})
}
