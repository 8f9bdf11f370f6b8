package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/fanin-dev/fanin/internal/bench"
	"github.com/fanin-dev/fanin/internal/report"
	"github.com/fanin-dev/fanin/internal/strategy"
	"github.com/fanin-dev/fanin/internal/wire"
)

const benchUsage = `Usage: fanin bench [flags]

Runs every contestant at every producer count against a verifying sink,
repeats each cell until its median is stable, and prints a table of median
ns per message with the ratio to fanin-lanes. Every run is verified: a run
the sink rejects fails the command (exit status 1).

Writes results.json, results.csv, chart.svg and chart.png into --out.

Flags:
`

// quickDefaults replace the defaults of flags not given explicitly under
// --quick: every contestant, a few producer counts, few messages and few
// repeats, so the whole matrix (still fully verified) takes seconds.
var quickDefaults = map[string]string{
	"producers": "1,16,256",
	"messages":  "200",
	"min-time":  "20ms",
	"min-runs":  "2",
	"max-runs":  "5",
}

func runBench(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	defaultProducers := joinInts(bench.DefaultProducers)
	producers := fs.String("producers", defaultProducers, "comma-separated producer counts, e.g. the seed's 1,2,4,...,8192")
	strategies := fs.String("strategies", "all", "comma-separated contestants, or all: "+strings.Join(strategy.Names(), ", "))
	messages := fs.Int("messages", bench.DefaultMessages, "messages per producer")
	mode := fs.String("mode", "byte", "message format: byte (the seed's 1-byte messages), framed (id, seq, send time, payload; gives latency) or varied (framed with a length prefix and sizes up to --size)")
	size := fs.Int("size", 0, fmt.Sprintf("bytes per message in framed mode (%d..%d); 0: %d (byte mode is always 1)", wire.FrameSize, wire.MaxSize, bench.DefaultFramedSize))
	sinkKind := fs.String("sink", bench.SinkTCP, "tcp: loopback TCP to a verifying sink server in this process; mem: an in-memory verifier (no socket)")
	addr := fs.String("addr", "", "HOST:PORT of an external `fanin serve` to use instead of the in-process sink (tcp only)")
	out := fs.String("out", "fanin-results", "directory for results.json, results.csv, chart.svg, chart.png; empty: write no files")
	quick := fs.Bool("quick", false, "smoke run: every contestant at producers 1,16,256 with 200 messages and few repeats, still verified (explicit flags win)")
	seedTable := fs.Bool("seed-table", false, "also print the seed's published figures beside ours, as ratios")
	minTime := fs.Duration("min-time", bench.DefaultMinTime, "repeat each cell until its runs add up to at least this")
	minRuns := fs.Int("min-runs", bench.DefaultMinRuns, "run each cell at least this many times")
	maxRuns := fs.Int("max-runs", bench.DefaultMaxRuns, "run each cell at most this many times")
	longRun := fs.Duration("long-run", bench.DefaultLongRun, "a cell whose first run takes at least this long runs only once (marked * in the table); negative: always repeat")
	runTimeout := fs.Duration("run-timeout", 0, "fail if one run takes longer than this (a contestant hung); 0: a minute plus 20µs per message; negative: no limit")
	jsonOut := fs.Bool("json", false, "print results.json on stdout instead of the table")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof)")
	scenario := fs.String("scenario", "", "run scenarios instead of the matrix: idle, overload, latency, or all (comma-separated); writes scenarios.json into --out")
	scenarioTime := fs.Duration("scenario-time", 0, "with --scenario: how long each subject is measured; 0: idle 3s, overload 5s, latency 3s")
	soak := fs.Duration("soak", 0, fmt.Sprintf("run a soak instead of the matrix: %d lanes and %d shared writers stream random-size messages through one Writer over loopback TCP for this long, then verify everything and report heap and messages/s", bench.DefaultSoakLanes, bench.DefaultSoakShared))
	fs.Usage = func() {} // help goes to stdout, errors get a one-line hint

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fmt.Fprint(stdout, benchUsage)
			fs.PrintDefaults()
			return 0
		}
		// The flag package has printed the error itself.
		fmt.Fprintln(stderr, "Run \"fanin bench --help\" for the flags.")
		return 2
	}
	if fs.NArg() > 0 {
		return usageError(stderr, "bench", fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	if *scenario != "" {
		return runScenarios(*scenario, *scenarioTime, *out, args, stdout, stderr)
	}
	if *soak != 0 {
		return runSoak(*soak, stdout, stderr)
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
		Messages: *messages,
		Size:     *size,
		Sink:     *sinkKind,
		Addr:     *addr,
		MinTime:  *minTime,
		MinRuns:  *minRuns,
		MaxRuns:  *maxRuns,
		LongRun:  *longRun,

		RunTimeout: *runTimeout,
	}
	var err error
	if cfg.Producers, err = bench.ParseProducers(*producers); err != nil {
		return usageError(stderr, "bench", "--producers: "+err.Error())
	}
	if cfg.Strategies, err = bench.ParseStrategies(*strategies); err != nil {
		return usageError(stderr, "bench", "--strategies: "+err.Error())
	}
	if cfg.Mode, err = wire.ParseMode(*mode); err != nil {
		return usageError(stderr, "bench", "--mode: "+err.Error())
	}
	switch {
	case *messages < 1:
		return usageError(stderr, "bench", "--messages must be at least 1")
	case *size < 0:
		return usageError(stderr, "bench", "--size must not be negative")
	case *minRuns < 1 || *maxRuns < *minRuns:
		return usageError(stderr, "bench", "need 1 <= --min-runs <= --max-runs")
	case *minTime < 0:
		return usageError(stderr, "bench", "--min-time must not be negative")
	}
	if cfg.Mode == wire.Byte && *size > 1 {
		return usageError(stderr, "bench", "--size applies to framed and varied modes only (byte messages are 1 byte)")
	}
	if cfg.Mode == wire.Byte {
		cfg.Size = 1
	}
	if *minTime == 0 {
		cfg.MinTime = -1 // the library's "no minimum"; its 0 means "default"
	}
	if err := cfg.Validate(); err != nil {
		return usageError(stderr, "bench", err.Error())
	}

	rep := report.New()
	rep.Command = commandLine(args)
	order := make([]string, len(cfg.Strategies))
	for i, s := range cfg.Strategies {
		order[i] = s.Name()
	}

	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "fanin bench: %v\n", err)
			return 1
		}
		defer stop()
	}
	prog := newProgress(stderr)
	cfg.Progress = prog.update
	results, err := bench.Run(context.Background(), cfg)
	prog.finish(err == nil)
	if err != nil {
		var ve *bench.VerifyError
		if errors.As(err, &ve) {
			fmt.Fprintf(stderr, "fanin bench: VERIFICATION FAILED: %v\n", err)
		} else {
			fmt.Fprintf(stderr, "fanin bench: %v\n", err)
		}
		return 1
	}
	rep.Results = results

	if *jsonOut {
		if err := report.WriteJSON(stdout, rep); err != nil {
			fmt.Fprintf(stderr, "fanin bench: %v\n", err)
			return 1
		}
	} else {
		if err := report.Table(stdout, rep, order); err != nil {
			fmt.Fprintf(stderr, "fanin bench: %v\n", err)
			return 1
		}
		if *seedTable {
			fmt.Fprintln(stdout)
			if err := report.SeedTable(stdout, rep); err != nil {
				fmt.Fprintf(stderr, "fanin bench: %v\n", err)
				return 1
			}
		}
	}
	if *out != "" {
		if err := report.WriteFiles(*out, rep, order); err != nil {
			fmt.Fprintf(stderr, "fanin bench: %v\n", err)
			return 1
		}
		fmt.Fprintf(stderr, "wrote %s, %s, %s, %s in %s\n", report.ResultsJSON, report.ResultsCSV, report.ChartSVG, report.ChartPNG, *out)
	}
	return 0
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ",")
}

// commandLine records how the results were produced, for results.json.
func commandLine(args []string) string {
	parts := []string{"fanin", "bench"}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'") {
			a = fmt.Sprintf("%q", a)
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// progress shows where the benchmark is: a live bar on a terminal, one
// plain line per finished cell otherwise (logs, CI, pipes).
type progress struct {
	w      io.Writer
	tty    bool
	p      *mpb.Progress // created with the first report, once the cell count is known
	bar    *mpb.Bar
	status atomic.Pointer[string] // read by mpb's render goroutine
}

func newProgress(stderr io.Writer) *progress {
	return &progress{w: stderr, tty: isTerminal(stderr)}
}

func (pr *progress) update(p bench.Progress) {
	if !pr.tty {
		if p.Result != nil {
			r := p.Result
			fmt.Fprintf(pr.w, "[%*d/%d] %-12s producers %-5d %10s ns/msg  %2d runs  elapsed %v  eta %v\n",
				len(fmt.Sprint(p.Total)), p.Done, p.Total, r.Strategy, r.Producers,
				report.FormatNs(r.NsPerMsgMedian), r.Runs, roundDur(p.Elapsed), roundDur(p.ETA))
		}
		return
	}
	var s string
	if p.Result == nil {
		s = fmt.Sprintf("  %s @ %d producers", p.Strategy, p.Producers)
	} else {
		s = fmt.Sprintf("  %s @ %d: %s ns/msg", p.Strategy, p.Producers, report.FormatNs(p.Result.NsPerMsgMedian))
	}
	if p.Done > 0 {
		s += fmt.Sprintf("  elapsed %v  eta %v", roundDur(p.Elapsed), roundDur(p.ETA))
	}
	pr.status.Store(&s)
	if pr.p == nil {
		pr.p = mpb.New(mpb.WithOutput(pr.w), mpb.WithWidth(30), mpb.WithRefreshRate(200*time.Millisecond))
		pr.bar = pr.p.AddBar(int64(p.Total),
			mpb.PrependDecorators(decor.Name("bench "), decor.CountersNoUnit("%d/%d cells")),
			mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return *pr.status.Load() })),
		)
	}
	pr.bar.SetCurrent(int64(p.Done))
}

// finish leaves the bar complete (or abandoned, on failure) and waits for
// its last render, so that the table is not interleaved with it.
func (pr *progress) finish(ok bool) {
	if pr.p == nil {
		return
	}
	if !ok {
		pr.bar.Abort(false)
	}
	pr.p.Wait()
}

func roundDur(d time.Duration) time.Duration {
	if d >= 10*time.Second {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}

// isTerminal reports whether w is an interactive terminal (a character
// device other than /dev/null), where a live progress bar makes sense.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	if null, err := os.Stat(os.DevNull); err == nil && os.SameFile(fi, null) {
		return false
	}
	return true
}

// startCPUProfile profiles the process into path until stop is called.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// runScenarios is `fanin bench --scenario`: the idle, overload and latency
// measurements of internal/bench, as tables and scenarios.json.
func runScenarios(list string, d time.Duration, out string, args []string, stdout, stderr io.Writer) int {
	names, err := bench.ParseScenarios(list)
	if err != nil {
		return usageError(stderr, "bench", "--scenario: "+err.Error())
	}
	if d < 0 {
		return usageError(stderr, "bench", "--scenario-time must not be negative")
	}
	res, err := bench.RunScenarios(context.Background(), names, bench.ScenarioConfig{Duration: d, Log: stderr})
	res.Command = commandLine(args)
	if err != nil {
		fmt.Fprintf(stderr, "fanin bench: %v\n", err)
		return 1
	}
	if err := bench.WriteScenarioTables(stdout, res); err != nil {
		fmt.Fprintf(stderr, "fanin bench: %v\n", err)
		return 1
	}
	if out != "" {
		if err := bench.WriteScenariosJSON(out, res); err != nil {
			fmt.Fprintf(stderr, "fanin bench: %v\n", err)
			return 1
		}
		fmt.Fprintf(stderr, "wrote %s in %s\n", bench.ScenariosJSON, out)
	}
	return 0
}

// runSoak is `fanin bench --soak DURATION`: see bench.Soak.
func runSoak(d time.Duration, stdout, stderr io.Writer) int {
	if d < 0 {
		return usageError(stderr, "bench", "--soak must not be negative")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := bench.Soak(ctx, bench.SoakConfig{Duration: d})
	fmt.Fprint(stdout, res)
	if err != nil {
		fmt.Fprintln(stderr, "fanin bench --soak:", err)
		return 1
	}
	return 0
}
