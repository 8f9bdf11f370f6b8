package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/fanin-dev/fanin/internal/report"
	"github.com/fanin-dev/fanin/internal/strategy"
)

func TestBenchQuick(t *testing.T) {
	defer goleak.VerifyNone(t)
	out := filepath.Join(t.TempDir(), "results")
	var stdout, stderr bytes.Buffer
	code := runBench([]string{"--quick", "--sink", "mem", "--out", out, "--seed-table"}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, &stdout, &stderr)
	}

	table := stdout.String()
	if !strings.HasPrefix(table, "machine: ") {
		t.Errorf("stdout should start with the machine line:\n%s", table)
	}
	for _, name := range strategy.Names() {
		if !strings.Contains(table, name) {
			t.Errorf("table lacks contestant %s:\n%s", name, table)
		}
	}
	for _, row := range []string{"\n          1 ", "\n         16 ", "\n        256 "} {
		if !strings.Contains(table, row) {
			t.Errorf("table lacks the row %q:\n%s", strings.TrimSpace(row), table)
		}
	}
	if !strings.Contains(table, "seed comparison") {
		t.Errorf("--seed-table printed no seed comparison:\n%s", table)
	}
	// Not a terminal: one plain progress line per cell.
	if n, want := strings.Count(stderr.String(), " ns/msg "), 3*len(strategy.Names()); n != want {
		t.Errorf("%d progress lines, want %d:\n%s", n, want, &stderr)
	}

	for _, name := range []string{"results.json", "results.csv", "chart.svg", "chart.png"} {
		fi, err := os.Stat(filepath.Join(out, name))
		if err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
	f, err := os.Open(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := report.ReadJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * len(strategy.Names()); len(rep.Results) != want {
		t.Fatalf("%d results, want %d", len(rep.Results), want)
	}
	for _, r := range rep.Results {
		if !r.Verified || r.MessagesPerProducer != 200 || r.Sink != "mem" || r.Runs < 2 || r.Runs > 5 {
			t.Errorf("result %+v", r)
		}
	}
	if !strings.Contains(rep.Command, "--quick") {
		t.Errorf("command = %q", rep.Command)
	}
}

// --trace writes an execution trace in which every timed run is a task
// logged with its cell; --cpuprofile writes a CPU profile.
func TestBenchTraceAndProfile(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	tracePath, profilePath := filepath.Join(dir, "trace.out"), filepath.Join(dir, "cpu.out")
	for _, sink := range []string{"tcp", "mem"} {
		var stdout, stderr bytes.Buffer
		code := runBench([]string{"--sink", sink, "--strategies", "fanin,mutex-swap", "--producers", "3", "--messages", "10",
			"--min-runs", "2", "--max-runs", "2", "--min-time", "0s", "--out", "",
			"--trace", tracePath, "--cpuprofile", profilePath}, &stdout, &stderr)
		if code != 0 {
			t.Fatalf("%s sink: exit %d\n%s", sink, code, &stderr)
		}
		tr, err := os.ReadFile(tracePath)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(tr, []byte("go 1.")) {
			t.Errorf("%s sink: %s does not start with an execution trace's header: %q", sink, tracePath, tr[:min(len(tr), 16)])
		}
		// The trace's string table holds the task's name and each log message.
		want := []string{"run", "cell", "fanin/3", "mutex-swap/3"}
		if sink == "tcp" {
			want = append(want, "counted the last byte")
		}
		for _, s := range want {
			if !bytes.Contains(tr, []byte(s)) {
				t.Errorf("%s sink: the trace lacks %q", sink, s)
			}
		}
		if fi, err := os.Stat(profilePath); err != nil || fi.Size() == 0 {
			t.Errorf("%s sink: CPU profile: %v", sink, err)
		}
	}
}

// benchJSON runs fanin bench with args and --json, and returns the
// results.json it printed on stdout, and what it printed on stderr.
func benchJSON(t *testing.T, args ...string) (report.Report, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := runBench(append(args, "--json"), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\n%s", code, &stderr)
	}
	var rep report.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("stdout is not results.json: %v\n%s", err, &stdout)
	}
	return rep, stderr.String()
}

func TestBenchJSONOnStdout(t *testing.T) {
	defer goleak.VerifyNone(t)
	rep, _ := benchJSON(t, "--sink", "mem", "--strategies", "direct", "--producers", "2", "--messages", "10",
		"--mode", "framed", "--size", "32", "--min-runs", "1", "--min-time", "0s", "--out", "")
	if len(rep.Results) != 1 || rep.Results[0].Mode != "framed" || rep.Results[0].MessageSize != 32 || rep.Results[0].LatencyP99Us <= 0 ||
		rep.Results[0].Runs != 1 { // --min-time 0s: no minimum time, so --min-runs 1 means one run

		t.Errorf("results = %+v", rep.Results)
	}
}

// --rounds runs the matrix again and reports each cell's median round, with
// every round's median in the cell's note.
func TestBenchRounds(t *testing.T) {
	defer goleak.VerifyNone(t)
	rep, stderr := benchJSON(t, "--sink", "mem", "--strategies", "direct,fanin", "--producers", "2", "--messages", "10",
		"--min-runs", "1", "--max-runs", "2", "--min-time", "0s", "--rounds", "3", "--out", "")
	if len(rep.Results) != 2 {
		t.Fatalf("results = %+v, want one per cell", rep.Results)
	}
	for _, r := range rep.Results {
		if !r.Verified || r.Runs < 3 || !strings.Contains(r.Note, "median of 3 rounds") ||
			r.NsPerMsgMin > r.NsPerMsgMedian || r.NsPerMsgMedian > r.NsPerMsgMax {
			t.Errorf("cell %+v", r)
		}
	}
	if n := strings.Count(stderr, "round "); n != 3 {
		t.Errorf("stderr announces %d rounds, want 3:\n%s", n, stderr)
	}
	for _, r := range rep.Results {
		if len(r.RoundMedians) != 3 {
			t.Errorf("%s: round medians %v, want 3", r.Strategy, r.RoundMedians)
		}
	}
}

// --ratio-to prints one table per contestant named, each with its ratios.
func TestBenchRatioTo(t *testing.T) {
	defer goleak.VerifyNone(t)
	var stdout, stderr bytes.Buffer
	code := runBench([]string{"--sink", "mem", "--strategies", "direct,fanin", "--producers", "2", "--messages", "10",
		"--min-runs", "1", "--max-runs", "1", "--min-time", "0s", "--rounds", "2", "--ratio-to", "direct,fanin", "--out", ""}, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, &stderr)
	}
	out := stdout.String()
	for _, want := range []string{"ratio to direct: the median of the 2 rounds' ratios", "ratio to fanin: the median of the 2 rounds' ratios"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "machine: "); n != 2 {
		t.Errorf("%d tables, want 2:\n%s", n, out)
	}
}

// --from prints the tables of a results.json without running anything, and
// writes files only when --out asks for them.
func TestBenchFrom(t *testing.T) {
	lanes := report.Result{Strategy: "fanin-lanes", Producers: 64, Mode: "byte", MessageSize: 1, Sink: "tcp",
		Runs: 3, NsPerMsgMedian: 10, TotalMsMedian: 0.64, RoundMedians: []float64{10, 30, 9}, Verified: true}
	direct := lanes
	direct.Strategy, direct.NsPerMsgMedian, direct.RoundMedians = "direct", 5, []float64{5, 10, 4.5}
	rep := report.Report{Go: "go1.26.8", CPU: "Test CPU", CPUs: 2, GOMAXPROCS: 2, Results: []report.Result{lanes, direct}}
	dir := t.TempDir()
	file := filepath.Join(dir, "results.json")
	var buf bytes.Buffer
	if err := report.WriteJSON(&buf, rep); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir) // the default --out would land here

	var stdout, stderr bytes.Buffer
	if code := runBench([]string{"--from", file, "--ratio-to", "direct"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\n%s", code, &stderr)
	}
	// Rounds say 2x, 3x, 2x: the median is 2x (the medians' ratio is also 2x here).
	if out := stdout.String(); !strings.Contains(out, "ratio to direct: the median of the 3 rounds' ratios") ||
		!strings.Contains(out, "10.0 (2.00x)") || !strings.Contains(out, "Test CPU") {
		t.Errorf("table:\n%s", out)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files written without --out: %v", entries)
	}
	stdout.Reset()
	out := filepath.Join(dir, "again")
	if code := runBench([]string{"--from", file, "--out", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\n%s", code, &stderr)
	}
	if _, err := os.Stat(filepath.Join(out, report.ResultsJSON)); err != nil {
		t.Errorf("--out with --from: %v", err)
	}

	for args, want := range map[string]int{
		"--from " + filepath.Join(dir, "missing.json"): 1,
		"--from " + file + " --ratio-to fanin":         2,
		"--from " + file + " --rounds 3":               2,
	} {
		stdout.Reset()
		stderr.Reset()
		if code := runBench(strings.Fields(args), &stdout, &stderr); code != want || stderr.Len() == 0 {
			t.Errorf("%s: exit %d, want %d; stderr %q", args, code, want, &stderr)
		}
	}
}

func TestBenchBadFlags(t *testing.T) {
	tests := [][]string{
		{"--nope"},
		{"--producers", "0"},
		{"--producers", "x"},
		{"--producers", "4,4"},
		{"--strategies", "fastest"},
		{"--mode", "words"},
		{"--sink", "udp"},
		{"--sink", "mem", "--addr", "127.0.0.1:1"},
		{"--messages", "0"},
		{"--size", "2"},
		{"--mode", "framed", "--size", "3"},
		{"--min-runs", "4", "--max-runs", "2"},
		{"--rounds", "0"},
		{"--strategies", "direct", "--ratio-to", "fanin"},
		{"--memprofile", "heap"},
		{"--scenario", "idle", "--memprofile", "heap"},
		{"extra"},
	}
	for _, args := range tests {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := runBench(args, &stdout, &stderr); code != 2 {
				t.Errorf("exit %d, want 2\nstderr:\n%s", code, &stderr)
			}
			if stderr.Len() == 0 {
				t.Error("no message on stderr")
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout not empty:\n%s", &stdout)
			}
		})
	}
}

func TestBenchHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := runBench([]string{"--help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d", code)
	}
	help := stdout.String()
	for _, flag := range []string{"-producers", "-strategies", "-messages", "-mode", "-size", "-sink", "-addr",
		"-out", "-quick", "-seed-table", "-min-time", "-min-runs", "-max-runs", "-long-run", "-run-timeout", "-json"} {
		if !strings.Contains(help, flag) {
			t.Errorf("help does not document %s", flag)
		}
	}
}
