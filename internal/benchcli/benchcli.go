// Package benchcli is the command line of the fan-in benchmark, shared by
// `fanin bench` and the peers command (benchmarks/cmd/peers): the flags and
// their --quick defaults, the matrix through bench.Run, the table, JSON, CSV
// and chart output, progress, the scenarios, the soak and the CPU profile.
// A Command says what differs between the two: names, usage, contestants,
// extra scenario designs and output.
package benchcli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strings"
	"time"

	"github.com/fanin-dev/fanin/internal/bench"
	"github.com/fanin-dev/fanin/internal/report"
	"github.com/fanin-dev/fanin/internal/strategy"
	"github.com/fanin-dev/fanin/internal/wire"
)

// Command describes one benchmark command. Only Name, CommandLine and Usage
// are required; a nil hook means "as fanin bench does".
type Command struct {
	// Name prefixes messages ("fanin bench: ...") and the help hint
	// ("Run \"fanin bench --help\" for the flags.").
	Name string
	// CommandLine prefixes the arguments in the reports' Command field,
	// e.g. "fanin bench" or "go run ./cmd/peers".
	CommandLine string
	// Usage is printed by --help before the flags.
	Usage string
	// OutDefault is the default of --out; empty: "fanin-results".
	OutDefault string
	// FlagHelp replaces the help text of the named flags (without dashes).
	FlagHelp map[string]string

	// Strategies are the contestants --strategies names and "all" runs;
	// nil: strategy.All().
	Strategies []strategy.Strategy
	// ParseStrategies parses --strategies; nil: bench.ParseStrategies when
	// Strategies is nil, else Select over Strategies.
	ParseStrategies func(string) ([]strategy.Strategy, error)
	// Annotate may amend the results before they are reported.
	Annotate func([]report.Result) []report.Result
	// AfterTable writes more tables after the ns/msg table (not with --json).
	AfterTable func(w io.Writer, rep report.Report, order []string) error

	// ParseScenarios parses --scenario; nil: bench.ParseScenarios.
	ParseScenarios func(string) ([]string, error)
	// ExtraDesigns are measured by the scenarios beside the project's own.
	ExtraDesigns []bench.ExtraDesign
	// AfterScenarios writes more after the scenario tables.
	AfterScenarios func(w io.Writer)

	// Soak offers --soak (see bench.Soak).
	Soak bool
}

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

// Run runs the command c with args (the arguments after the command's name)
// and returns the exit status: 0, 1 if the benchmark failed (a run was not
// verified, a file could not be written), 2 for a usage error.
func Run(args []string, stdout, stderr io.Writer, c Command) int {
	all := c.Strategies
	if all == nil {
		all = strategy.All()
	}
	help := func(name, text string) string {
		if h, ok := c.FlagHelp[name]; ok {
			return h
		}
		return text
	}
	outDefault := c.OutDefault
	if outDefault == "" {
		outDefault = "fanin-results"
	}
	fs := flag.NewFlagSet(c.Name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	producers := fs.String("producers", joinInts(bench.DefaultProducers), help("producers", "comma-separated producer counts, e.g. the seed's 1,2,4,...,8192"))
	strategies := fs.String("strategies", "all", help("strategies", "comma-separated contestants, or all: "+strings.Join(Names(all), ", ")))
	messages := fs.Int("messages", bench.DefaultMessages, help("messages", "messages per producer"))
	mode := fs.String("mode", "byte", help("mode", "message format: byte (the seed's 1-byte messages), framed (id, seq, send time, payload; gives latency) or varied (framed with a length prefix and sizes up to --size)"))
	size := fs.Int("size", 0, help("size", fmt.Sprintf("bytes per message in framed mode (%d..%d); 0: %d (byte mode is always 1)", wire.FrameSize, wire.MaxSize, bench.DefaultFramedSize)))
	sinkKind := fs.String("sink", bench.SinkTCP, help("sink", "tcp: loopback TCP to a verifying sink server in this process; mem: an in-memory verifier (no socket)"))
	addr := fs.String("addr", "", help("addr", "HOST:PORT of an external `fanin serve` to use instead of the in-process sink (tcp only)"))
	out := fs.String("out", outDefault, help("out", "directory for results.json, results.csv, chart.svg, chart.png; empty: write no files"))
	quick := fs.Bool("quick", false, help("quick", "smoke run: every contestant at producers 1,16,256 with 200 messages and few repeats, still verified (explicit flags win)"))
	seedTable := fs.Bool("seed-table", false, help("seed-table", "also print the seed's published figures beside ours, as ratios"))
	minTime := fs.Duration("min-time", bench.DefaultMinTime, help("min-time", "repeat each cell until its runs add up to at least this"))
	minRuns := fs.Int("min-runs", bench.DefaultMinRuns, help("min-runs", "run each cell at least this many times"))
	maxRuns := fs.Int("max-runs", bench.DefaultMaxRuns, help("max-runs", "run each cell at most this many times"))
	interleave := fs.Bool("interleave", false, help("interleave", "run the contestants of each producer count in turn, one run each, instead of one cell after another, so that a slow phase of the host falls on all of them alike"))
	rounds := fs.Int("rounds", 1, help("rounds", "run the whole matrix this many times, one after another, and report each cell's median round (a noisy machine's slow phase then shows as spread, not as the result)"))
	longRun := fs.Duration("long-run", bench.DefaultLongRun, help("long-run", "a cell whose first run takes at least this long runs only once (marked * in the table); negative: always repeat"))
	runTimeout := fs.Duration("run-timeout", 0, help("run-timeout", "fail if one run takes longer than this (a contestant hung); 0: a minute plus 20µs per message; negative: no limit"))
	from := fs.String("from", "", help("from", "print the tables of this results.json (as --out or --json write it) instead of running the matrix; with --ratio-to, --seed-table, --json and --out"))
	ratioTo := fs.String("ratio-to", report.Baseline, help("ratio-to", "the contestant whose cells the table's ratios divide by; several, comma-separated, print one table each"))
	jsonOut := fs.Bool("json", false, help("json", "print results.json on stdout instead of the table"))
	cpuProfile := fs.String("cpuprofile", "", help("cpuprofile", "write a CPU profile of the whole run to this file (go tool pprof); samples of a contestant's goroutines carry the labels contestant and cell, so -tagfocus cell=fanin-lanes/1024 keeps one cell's timed work"))
	traceFile := fs.String("trace", "", help("trace", "write an execution trace of the whole run to this file (go tool trace): every timed run is a task named run, with its cell logged, so the trace's user-defined tasks list the runs and what each goroutine did in them; tracing slows the runs down"))
	memProfile := fs.String("memprofile", "", help("memprofile", "with --scenario overload: write a heap profile of each design, taken as its producers stop, to PREFIX-DESIGN.pb.gz (go tool pprof -sample_index=inuse_space); every allocation is recorded, which slows the unbounded design"))
	scenario := fs.String("scenario", "", help("scenario", "run scenarios instead of the matrix: idle, overload, latency, or all (comma-separated); writes scenarios.json into --out"))
	scenarioTime := fs.Duration("scenario-time", 0, help("scenario-time", "with --scenario: how long each subject is measured; 0: idle 3s, overload 5s, latency 3s"))
	var soak *time.Duration
	if c.Soak {
		soak = fs.Duration("soak", 0, help("soak", fmt.Sprintf("run a soak instead of the matrix: %d lanes and %d shared writers stream random-size messages through one Writer over loopback TCP for this long, then verify everything and report heap and messages/s", bench.DefaultSoakLanes, bench.DefaultSoakShared)))
	}
	fs.Usage = func() {} // help goes to stdout, errors get a one-line hint

	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fmt.Fprint(stdout, c.Usage)
			fs.PrintDefaults()
			return 0
		}
		// The flag package has printed the error itself.
		return c.usageError(stderr, "")
	}
	if fs.NArg() > 0 {
		return c.usageError(stderr, fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	if *scenario != "" {
		return c.runScenarios(*scenario, *scenarioTime, *memProfile, *out, args, stdout, stderr)
	}
	if *memProfile != "" {
		return c.usageError(stderr, "--memprofile profiles the overload scenario: use it with --scenario overload")
	}
	if soak != nil && *soak != 0 {
		return c.runSoak(*soak, stdout, stderr)
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

	baselines := strings.Split(*ratioTo, ",")
	// The default may be absent from a chosen few contestants: its table
	// then has no ratios. One asked for by name must be there.
	checkBaselines := func(order []string) error {
		for _, b := range baselines {
			if set["ratio-to"] && !slices.Contains(order, b) {
				return fmt.Errorf("--ratio-to: %q is not among the contestants (%s)", b, strings.Join(order, ", "))
			}
		}
		return nil
	}
	p := presentation{baselines: baselines, json: *jsonOut, seedTable: *seedTable, out: *out}
	if *from != "" {
		for name := range set {
			if !fromFlags[name] {
				return c.usageError(stderr, fmt.Sprintf("--%s applies to a run, and --from runs nothing", name))
			}
		}
		rep, err := readReport(*from)
		if err != nil {
			return c.fail(stderr, err)
		}
		order := report.Strategies(rep.Results)
		if err := checkBaselines(order); err != nil {
			return c.usageError(stderr, err.Error())
		}
		if !set["out"] {
			p.out = "" // only written when asked: the data is already in a file
		}
		return c.present(p, rep, order, stdout, stderr)
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
		Interleave: *interleave,
	}
	parseStrategies := c.ParseStrategies
	switch {
	case parseStrategies != nil:
	case c.Strategies == nil:
		parseStrategies = bench.ParseStrategies
	default:
		parseStrategies = func(s string) ([]strategy.Strategy, error) { return Select(s, all) }
	}
	var err error
	if cfg.Producers, err = bench.ParseProducers(*producers); err != nil {
		return c.usageError(stderr, "--producers: "+err.Error())
	}
	if cfg.Strategies, err = parseStrategies(*strategies); err != nil {
		return c.usageError(stderr, "--strategies: "+err.Error())
	}
	if cfg.Mode, err = wire.ParseMode(*mode); err != nil {
		return c.usageError(stderr, "--mode: "+err.Error())
	}
	switch {
	case *messages < 1:
		return c.usageError(stderr, "--messages must be at least 1")
	case *size < 0:
		return c.usageError(stderr, "--size must not be negative")
	case *minRuns < 1 || *maxRuns < *minRuns:
		return c.usageError(stderr, "need 1 <= --min-runs <= --max-runs")
	case *minTime < 0:
		return c.usageError(stderr, "--min-time must not be negative")
	case *rounds < 1:
		return c.usageError(stderr, "--rounds must be at least 1")
	}
	if cfg.Mode == wire.Byte && *size > 1 {
		return c.usageError(stderr, "--size applies to framed and varied modes only (byte messages are 1 byte)")
	}
	if cfg.Mode == wire.Byte {
		cfg.Size = 1
	}
	if *minTime == 0 {
		cfg.MinTime = -1 // the library's "no minimum"; its 0 means "default"
	}
	if err := cfg.Validate(); err != nil {
		return c.usageError(stderr, err.Error())
	}

	rep := report.New()
	rep.Command = c.commandLine(args)
	order := Names(cfg.Strategies)
	if err := checkBaselines(order); err != nil {
		return c.usageError(stderr, err.Error())
	}

	for _, r := range []struct {
		path  string
		start func(io.Writer) error
		stop  func()
	}{
		{*cpuProfile, pprof.StartCPUProfile, pprof.StopCPUProfile},
		{*traceFile, trace.Start, trace.Stop},
	} {
		if r.path == "" {
			continue
		}
		stop, err := record(r.path, r.start, r.stop)
		if err != nil {
			return c.fail(stderr, err)
		}
		defer stop()
	}
	results, err := runRounds(cfg, *rounds, order, stderr)
	if err != nil {
		if ve := (*bench.VerifyError)(nil); errors.As(err, &ve) {
			fmt.Fprintf(stderr, "%s: VERIFICATION FAILED: %v\n", c.Name, err)
			return 1
		}
		return c.fail(stderr, err)
	}
	if c.Annotate != nil {
		results = c.Annotate(results)
	}
	rep.Results = results
	return c.present(p, rep, order, stdout, stderr)
}

// presentation is what to make of a report: tables (one per baseline) or
// JSON on stdout, the seed table, and files in a directory.
type presentation struct {
	baselines []string
	json      bool
	seedTable bool
	out       string // "": no files
}

// present writes rep as p asks and returns the exit status.
func (c Command) present(p presentation, rep report.Report, order []string, stdout, stderr io.Writer) int {
	if p.json {
		if err := report.WriteJSON(stdout, rep); err != nil {
			return c.fail(stderr, err)
		}
	} else {
		for i, b := range p.baselines {
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			if err := report.Table(stdout, rep, order, b); err != nil {
				return c.fail(stderr, err)
			}
		}
		if c.AfterTable != nil {
			if err := c.AfterTable(stdout, rep, order); err != nil {
				return c.fail(stderr, err)
			}
		}
		if p.seedTable {
			fmt.Fprintln(stdout)
			if err := report.SeedTable(stdout, rep); err != nil {
				return c.fail(stderr, err)
			}
		}
	}
	if p.out != "" {
		if err := report.WriteFiles(p.out, rep, order); err != nil {
			return c.fail(stderr, err)
		}
		fmt.Fprintf(stderr, "wrote %s, %s, %s, %s in %s\n", report.ResultsJSON, report.ResultsCSV, report.ChartSVG, report.ChartPNG, p.out)
	}
	return 0
}

// fromFlags are the flags that mean something with --from.
var fromFlags = map[string]bool{"from": true, "ratio-to": true, "seed-table": true, "json": true, "out": true}

// readReport reads a results.json.
func readReport(path string) (report.Report, error) {
	f, err := os.Open(path)
	if err != nil {
		return report.Report{}, err
	}
	defer f.Close()
	rep, err := report.ReadJSON(f)
	if err != nil {
		return report.Report{}, fmt.Errorf("%s: %w", path, err)
	}
	return rep, nil
}

// runRounds runs the matrix rounds times and returns each cell's median
// round (report.MedianOfRounds), or the one round's results.
func runRounds(cfg bench.Config, rounds int, order []string, stderr io.Writer) ([]report.Result, error) {
	all := make([][]report.Result, 0, rounds)
	for i := range rounds {
		if rounds > 1 {
			fmt.Fprintf(stderr, "round %d of %d\n", i+1, rounds)
		}
		prog := newProgress(stderr, order)
		cfg.Progress = prog.update
		results, err := bench.Run(context.Background(), cfg)
		prog.finish(err == nil)
		if err != nil {
			return nil, err
		}
		all = append(all, results)
	}
	if rounds == 1 {
		return all[0], nil
	}
	return report.MedianOfRounds(all)
}

// Select returns the contestants of all named in the comma-separated list s
// (each once, in the order given), or all of them for "" or "all".
func Select(s string, all []strategy.Strategy) ([]strategy.Strategy, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "all" {
		return all, nil
	}
	var out []strategy.Strategy
	for name := range strings.SplitSeq(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" || slices.ContainsFunc(out, func(x strategy.Strategy) bool { return x.Name() == name }) {
			continue
		}
		i := slices.IndexFunc(all, func(x strategy.Strategy) bool { return x.Name() == name })
		if i < 0 {
			return nil, fmt.Errorf("unknown contestant %q (valid: %s)", name, strings.Join(Names(all), ", "))
		}
		out = append(out, all[i])
	}
	if len(out) == 0 {
		return nil, errors.New("no contestants")
	}
	return out, nil
}

// Names returns the names of ss, in order.
func Names(ss []strategy.Strategy) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Name()
	}
	return out
}

// usageError reports a usage error and returns exit status 2, as the flag
// package does. An empty msg means the flag package has printed the error.
func (c Command) usageError(stderr io.Writer, msg string) int {
	if msg != "" {
		fmt.Fprintf(stderr, "%s: %s\n", c.Name, msg)
	}
	fmt.Fprintf(stderr, "Run \"%s --help\" for the flags.\n", c.Name)
	return 2
}

// fail reports err and returns exit status 1.
func (c Command) fail(stderr io.Writer, err error) int {
	fmt.Fprintf(stderr, "%s: %v\n", c.Name, err)
	return 1
}

// commandLine records how the results were produced, for the reports.
func (c Command) commandLine(args []string) string {
	parts := []string{c.CommandLine}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'") {
			a = fmt.Sprintf("%q", a)
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ",")
}

// record writes what start begins recording (a CPU profile, an execution
// trace) into a new file at path, until the returned function stops it and
// closes the file.
func record(path string, start func(io.Writer) error, stop func()) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := start(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		stop()
		f.Close()
	}, nil
}

// runScenarios is --scenario: the scenarios of internal/bench (with the
// command's extra designs), as tables and scenarios.json.
func (c Command) runScenarios(list string, d time.Duration, memProfile, out string, args []string, stdout, stderr io.Writer) int {
	parse := c.ParseScenarios
	if parse == nil {
		parse = bench.ParseScenarios
	}
	names, err := parse(list)
	if err != nil {
		return c.usageError(stderr, "--scenario: "+err.Error())
	}
	if d < 0 {
		return c.usageError(stderr, "--scenario-time must not be negative")
	}
	if memProfile != "" {
		if !slices.Contains(names, bench.ScenarioOverload) {
			return c.usageError(stderr, "--memprofile profiles the overload scenario: add it to --scenario")
		}
		defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
		runtime.MemProfileRate = 1
	}
	cfg := bench.ScenarioConfig{Duration: d, Extra: c.ExtraDesigns, HeapProfiles: memProfile, Log: stderr}
	res, err := bench.RunScenarios(context.Background(), names, cfg)
	res.Command = c.commandLine(args)
	if err != nil {
		return c.fail(stderr, err)
	}
	if err := bench.WriteScenarioTables(stdout, res); err != nil {
		return c.fail(stderr, err)
	}
	if c.AfterScenarios != nil {
		c.AfterScenarios(stdout)
	}
	if out != "" {
		if err := bench.WriteScenariosJSON(out, res); err != nil {
			return c.fail(stderr, err)
		}
		fmt.Fprintf(stderr, "wrote %s in %s\n", bench.ScenariosJSON, out)
	}
	return 0
}

// runSoak is --soak DURATION: see bench.Soak.
func (c Command) runSoak(d time.Duration, stdout, stderr io.Writer) int {
	if d < 0 {
		return c.usageError(stderr, "--soak must not be negative")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	res, err := bench.Soak(ctx, bench.SoakConfig{Duration: d})
	fmt.Fprint(stdout, res)
	if err != nil {
		fmt.Fprintln(stderr, c.Name+" --soak:", err)
		return 1
	}
	return 0
}
