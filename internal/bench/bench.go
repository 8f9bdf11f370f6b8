// Package bench runs the experiment: every contestant at every producer
// count, each run verified by the sink, repeated until the figure is stable.
//
// The method follows the project's "measuring honestly" rules: producers are
// created and parked before the clock starts; the clock stops when the sink
// has counted every message (not when the producers return); the heap is
// collected and returned to the OS before every timed run so the scavenger
// does not steal CPU from it; and a run the sink does not verify fails the
// whole benchmark, because a fast wrong answer is not a result.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/fanin-dev/fanin/internal/report"
	"github.com/fanin-dev/fanin/internal/sink"
	"github.com/fanin-dev/fanin/internal/strategy"
	"github.com/fanin-dev/fanin/internal/wire"
)

// Sink kinds for Config.Sink.
const (
	// SinkTCP streams every run over loopback TCP to a sink.Server started in
	// this process (or to Config.Addr): the real system, syscalls included.
	SinkTCP = "tcp"
	// SinkMem writes straight into a wire.Verifier: the fan-in alone, with no
	// socket; useful to separate fan-in cost from syscall cost, and fast.
	SinkMem = "mem"
)

// Defaults, chosen so that the full default matrix finishes in about three
// minutes on two cores while small cells still get enough repeats.
const (
	DefaultMessages   = 1000 // the seed's SAMPLE_SIZE
	DefaultMinTime    = 200 * time.Millisecond
	DefaultMinRuns    = 3
	DefaultMaxRuns    = 25
	DefaultLongRun    = 2 * time.Second
	DefaultFramedSize = 64 // a small realistic record: 16-byte frame + 48 bytes of payload
)

// DefaultProducers spans the seed's range in steps of four.
var DefaultProducers = []int{1, 4, 16, 64, 256, 1024, 4096, 8192}

// Config describes one benchmark: a matrix of contestants x producer counts
// with a fixed workload per producer.
type Config struct {
	Strategies []strategy.Strategy // nil: strategy.All()
	Producers  []int               // nil: DefaultProducers
	Messages   int                 // per producer; 0: DefaultMessages
	Mode       wire.Mode           // 0: wire.Byte
	Size       int                 // bytes per message; 0: 1 in byte mode, DefaultFramedSize in framed mode

	Sink string // SinkTCP (default) or SinkMem
	// Addr, if set, is an external sink server (fanin serve) used instead of
	// an in-process one; Sink must then be SinkTCP or empty.
	Addr string

	MinTime time.Duration // a cell repeats until its runs add up to this...; 0: DefaultMinTime, negative: no minimum
	MinRuns int           // ...and it has run at least this often; 0: DefaultMinRuns
	MaxRuns int           // but never more often than this; 0: DefaultMaxRuns
	// LongRun: a cell whose first run takes at least this long is not
	// repeated (chan-serial at 8192 producers takes ~30 s a run). 0:
	// DefaultLongRun; negative: always repeat.
	LongRun time.Duration
	// RunTimeout bounds one run, so that a contestant that hangs fails the
	// benchmark instead of stalling it forever. 0: a minute plus 20 µs per
	// message; negative: no limit.
	RunTimeout time.Duration
	// Interleave runs a row's contestants in turn, one run each, until each
	// has met the repeat rule, instead of one cell after another: a slow
	// phase of the host then falls on every contestant of the row alike,
	// and the ratios within the row hold.
	Interleave bool

	// Progress, if set, is called (on Run's goroutine) when a cell starts and
	// when it ends.
	Progress func(Progress)
}

// Progress reports where a benchmark is, for progress bars and logs.
type Progress struct {
	Done, Total int // cells finished, cells in the matrix
	// Strategy and Producers name the cell starting (Result nil) or just
	// finished (Result set).
	Strategy  string
	Producers int
	Elapsed   time.Duration // since Run started
	// ETA is the estimated time left, from the cost per message measured
	// so far for each contestant.
	ETA    time.Duration
	Result *report.Result // the finished cell's result, nil when a cell starts
}

// VerifyError is returned when the sink did not verify a run: something was
// lost, duplicated, reordered or corrupted.
type VerifyError struct {
	Strategy  string
	Producers int
	Run       int // 1-based run within the cell
	Verdict   wire.Verdict
}

// Error names the cell and run, and carries the sink's own list of problems.
func (e *VerifyError) Error() string {
	return fmt.Sprintf("bench: %s with %d producers, run %d: %v", e.Strategy, e.Producers, e.Run, e.Verdict.Err())
}

// Validate reports why c cannot run (after filling the defaults), so that a
// command can reject bad flags before it starts measuring.
func (c Config) Validate() error {
	_, err := c.normalize()
	return err
}

// normalize fills defaults and rejects configurations that cannot run.
func (c Config) normalize() (Config, error) {
	if c.Strategies == nil {
		c.Strategies = strategy.All()
	}
	if len(c.Strategies) == 0 {
		return c, errors.New("bench: no strategies")
	}
	seen := map[string]bool{}
	for _, s := range c.Strategies {
		if seen[s.Name()] {
			return c, fmt.Errorf("bench: strategy %s listed twice", s.Name())
		}
		seen[s.Name()] = true
	}
	if c.Producers == nil {
		c.Producers = DefaultProducers
	}
	if len(c.Producers) == 0 {
		return c, errors.New("bench: no producer counts")
	}
	c.Producers = slices.Clone(c.Producers)
	if c.Messages == 0 {
		c.Messages = DefaultMessages
	}
	if c.Mode == 0 {
		c.Mode = wire.Byte
	}
	if c.Size == 0 {
		c.Size = 1
		if c.Mode != wire.Byte { // framed and varied messages carry a frame
			c.Size = DefaultFramedSize
		}
	}
	for i, p := range c.Producers {
		if slices.Contains(c.Producers[:i], p) {
			return c, fmt.Errorf("bench: producer count %d listed twice", p)
		}
		h := wire.Header{Mode: c.Mode, Producers: p, Messages: c.Messages, Size: c.Size}
		if err := h.Validate(); err != nil {
			return c, fmt.Errorf("bench: %w", err)
		}
	}
	switch c.Sink {
	case "":
		c.Sink = SinkTCP
	case SinkTCP:
	case SinkMem:
		if c.Addr != "" {
			return c, errors.New("bench: an external address needs the tcp sink")
		}
	default:
		return c, fmt.Errorf("bench: unknown sink %q (valid: %s, %s)", c.Sink, SinkTCP, SinkMem)
	}
	if c.MinTime == 0 {
		c.MinTime = DefaultMinTime
	}
	if c.MinRuns == 0 {
		c.MinRuns = DefaultMinRuns
	}
	if c.MaxRuns == 0 {
		c.MaxRuns = max(DefaultMaxRuns, c.MinRuns)
	}
	if c.MinRuns < 1 || c.MaxRuns < c.MinRuns {
		return c, fmt.Errorf("bench: need 1 <= min runs (%d) <= max runs (%d)", c.MinRuns, c.MaxRuns)
	}
	if c.LongRun == 0 {
		c.LongRun = DefaultLongRun
	}
	return c, nil
}

// sinkName is the Result.Sink value for c.
func (c Config) sinkName() string {
	if c.Addr != "" {
		return "tcp://" + c.Addr
	}
	return c.Sink
}

// Run measures every cell of the matrix, producer counts in the outer loop
// so that the contestants of one row are measured close together in time
// (ratios within a row are the comparison that matters); with Interleave,
// a row's contestants take turns run by run. It returns the results in
// that order. On the first failed run it stops and returns the
// results so far with the error (a *VerifyError if the sink rejected the
// stream).
func Run(ctx context.Context, cfg Config) ([]report.Result, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	b := &bencher{cfg: cfg, started: time.Now(), nsPerMsg: map[string]float64{}}
	if cfg.Sink == SinkTCP {
		b.addr = cfg.Addr
		if b.addr == "" {
			stop, addr, err := startSink()
			if err != nil {
				return nil, err
			}
			defer stop()
			b.addr = addr
		}
	}

	type cell struct {
		s strategy.Strategy
		p int
	}
	var cells []cell
	for _, p := range cfg.Producers {
		for _, s := range cfg.Strategies {
			cells = append(cells, cell{s, p})
		}
	}
	keys := make([]cellKey, len(cells))
	for i, c := range cells {
		keys[i] = cellKey{c.s.Name(), c.p}
	}
	notify := func(done int, c cell, r *report.Result) {
		if cfg.Progress != nil {
			cfg.Progress(Progress{
				Done: done, Total: len(cells), Strategy: c.s.Name(), Producers: c.p,
				Elapsed: time.Since(b.started), ETA: b.eta(keys[done:]), Result: r,
			})
		}
	}
	results := make([]report.Result, 0, len(cells))
	finish := func(c cell, cs *cellRuns, took time.Duration) {
		r := summarize(cfg, c.s.Name(), cs.h, cs.samples, cs.single)
		b.learn(r, took)
		results = append(results, r)
		notify(len(results), c, &r)
	}
	// Cells are measured a group at a time: one cell, or with Interleave a
	// row (one producer count, every contestant).
	size := 1
	if cfg.Interleave {
		size = len(cfg.Strategies)
	}
	for start := 0; start < len(cells); start += size {
		if err := ctx.Err(); err != nil {
			return results, err
		}
		group := cells[start : start+size]
		runs := make([]*cellRuns, len(group))
		took := make([]time.Duration, len(group))
		for i, c := range group {
			notify(start+i, c, nil)
			runs[i] = b.newCellRuns(c.s, c.p)
		}
		// One run of each unfinished cell per turn; a cell is summarised
		// once every cell of the group is done, in the matrix's order.
		for left := len(group); left > 0; {
			for i, c := range group {
				if runs[i].done {
					continue
				}
				runStart := time.Now()
				err := b.runOnce(ctx, c.s, runs[i])
				took[i] += time.Since(runStart)
				if err != nil {
					return results, err
				}
				if runs[i].done {
					left--
				}
			}
		}
		for i, c := range group {
			finish(c, runs[i], took[i])
		}
	}
	return results, nil
}

// startSink starts an in-process sink server on loopback and returns a
// function that shuts it down and waits for it.
func startSink() (stop func(), addr string, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", fmt.Errorf("bench: start sink: %w", err)
	}
	srv := sink.NewServer(sink.Config{})
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(ln) })
	stop = func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if srv.Shutdown(ctx) != nil {
			_ = srv.Close()
		}
		wg.Wait()
	}
	return stop, ln.Addr().String(), nil
}

// cellKey names a cell for the ETA estimate.
type cellKey struct {
	strategy  string
	producers int
}

// bencher is the state of one Run.
type bencher struct {
	cfg     Config
	addr    string // tcp sink address
	started time.Time

	// For the ETA: the last median ns/msg seen per contestant, and the
	// average fixed cost per run (dial, GC, FreeOSMemory, ...).
	nsPerMsg    map[string]float64
	overheadSum time.Duration
	overheadN   int
}

// learn records what a finished cell says about the cost of the rest.
func (b *bencher) learn(r report.Result, wall time.Duration) {
	b.nsPerMsg[r.Strategy] = r.NsPerMsgMedian
	measured := time.Duration(r.TotalMsMedian * float64(r.Runs) * 1e6)
	if over := wall - measured; over > 0 {
		b.overheadSum += over
		b.overheadN += r.Runs
	}
}

// eta estimates the time the remaining cells will take by replaying the
// repeat rule on predicted run times: per contestant the cost per message
// last measured (the contestants differ by 1000x, so a single average
// would be useless), plus the measured fixed cost per run.
func (b *bencher) eta(rest []cellKey) time.Duration {
	overhead := 5 * time.Millisecond
	if b.overheadN > 0 {
		overhead = b.overheadSum / time.Duration(b.overheadN)
	}
	fallback := 50.0 // ns/msg for a contestant not measured yet
	if len(b.nsPerMsg) > 0 {
		var sum float64
		for _, v := range b.nsPerMsg {
			sum += v
		}
		fallback = sum / float64(len(b.nsPerMsg))
	}
	var total time.Duration
	for _, c := range rest {
		ns, ok := b.nsPerMsg[c.strategy]
		if !ok {
			ns = fallback
		}
		run := time.Duration(ns * float64(c.producers) * float64(b.cfg.Messages))
		runs := b.cfg.MinRuns
		if b.cfg.LongRun > 0 && run >= b.cfg.LongRun {
			runs = 1
		} else if run > 0 {
			need := int(math.Ceil(float64(b.cfg.MinTime) / float64(run)))
			runs = min(max(runs, need), b.cfg.MaxRuns)
		} else {
			runs = b.cfg.MaxRuns
		}
		total += time.Duration(runs) * (run + overhead)
	}
	return total
}

// sample is what one run measured.
type sample struct {
	elapsed  time.Duration
	mallocs  uint64
	peakHeap uint64
	verdict  wire.Verdict
}

// cellRuns is a cell's runs so far, and whether the repeat rule is met.
type cellRuns struct {
	h       wire.Header
	samples []sample
	total   time.Duration
	single  bool // the first run was long enough on its own
	done    bool
}

// newCellRuns starts the cell of s with p producers.
func (b *bencher) newCellRuns(s strategy.Strategy, p int) *cellRuns {
	cfg := b.cfg
	return &cellRuns{h: wire.Header{Mode: cfg.Mode, Producers: p, Messages: cfg.Messages, Size: cfg.Size, Label: s.Name()}}
}

// runOnce adds one verified run of s to cs and marks cs done once the
// repeat rule is met.
func (b *bencher) runOnce(ctx context.Context, s strategy.Strategy, cs *cellRuns) error {
	cfg := b.cfg
	sm, err := b.run(ctx, s, cs.h)
	if err != nil {
		return fmt.Errorf("bench: %s with %d producers, run %d: %w", s.Name(), cs.h.Producers, len(cs.samples)+1, err)
	}
	if !sm.verdict.OK {
		return &VerifyError{Strategy: s.Name(), Producers: cs.h.Producers, Run: len(cs.samples) + 1, Verdict: sm.verdict}
	}
	cs.samples = append(cs.samples, sm)
	cs.total += sm.elapsed
	n := len(cs.samples)
	switch {
	case n == 1 && cfg.LongRun > 0 && sm.elapsed >= cfg.LongRun:
		cs.single, cs.done = true, true
	case n >= cfg.MaxRuns || (n >= cfg.MinRuns && cs.total >= cfg.MinTime):
		cs.done = true
	default:
		return ctx.Err()
	}
	return nil
}

// summarize turns a cell's runs into its Result.
func summarize(cfg Config, name string, h wire.Header, samples []sample, single bool) report.Result {
	msgs := float64(h.TotalMessages())
	var ns, p50, p99 []float64
	var mallocs, peak uint64
	for _, s := range samples {
		ns = append(ns, float64(s.elapsed.Nanoseconds())/msgs)
		p50 = append(p50, s.verdict.LatencyP50Us)
		p99 = append(p99, s.verdict.LatencyP99Us)
		mallocs += s.mallocs
		peak = max(peak, s.peakHeap)
	}
	r := report.Result{
		Strategy:            name,
		Producers:           h.Producers,
		MessagesPerProducer: h.Messages,
		MessageSize:         h.Size,
		Mode:                h.Mode.String(),
		Sink:                cfg.sinkName(),
		Runs:                len(samples),
		NsPerMsgMin:         slices.Min(ns),
		NsPerMsgMedian:      report.Median(ns),
		NsPerMsgMax:         slices.Max(ns),
		Verified:            true,
		AllocsPerMsg:        float64(mallocs) / (msgs * float64(len(samples))),
		PeakHeapBytes:       peak,
		Single:              single,
	}
	r.TotalMsMedian = r.NsPerMsgMedian * msgs / 1e6
	if h.Mode != wire.Byte {
		r.LatencyP50Us = report.Median(p50)
		r.LatencyP99Us = report.Median(p99)
	}
	if single {
		r.Note = fmt.Sprintf("ran once: the first run took %v (at least %v)",
			samples[0].elapsed.Round(time.Millisecond), cfg.LongRun)
	}
	return r
}

// run performs one measured run of s for workload h.
func (b *bencher) run(ctx context.Context, s strategy.Strategy, h wire.Header) (sample, error) {
	if b.cfg.Sink == SinkMem {
		return b.runMem(s, h)
	}
	return b.runTCP(ctx, s, h)
}

// prepare prepares a run of s with pprof labels on the goroutines it starts,
// contestant (fanin-lanes) and cell (fanin-lanes/1024), so that a CPU profile
// of the command can be cut down to one contestant's or one cell's timed
// work, without the setup between runs (GC, FreeOSMemory) or the sink:
// go tool pprof -tagfocus cell=fanin-lanes/1024. Every contestant starts its
// goroutines in Prepare and they work only after Start (a consumer started
// before it is parked, and one that would spin waits at the gate), so their
// samples belong to the timed region.
func prepare(ctx context.Context, s strategy.Strategy, dst io.Writer, h wire.Header) (run strategy.Run, err error) {
	labels := pprof.Labels("contestant", s.Name(), "cell", s.Name()+"/"+strconv.Itoa(h.Producers))
	pprof.Do(ctx, labels, func(context.Context) {
		run, err = s.Prepare(dst, h)
	})
	return run, err
}

// errExtraBytes stops a contestant that writes more than the workload: in
// memory nothing else would, and a duplicating loop would never end.
var errExtraBytes = errors.New("more bytes written than the workload announced")

// memSink feeds the Verifier and fails writes once the stream is longer than
// announced (the Verifier still sees them, so the verdict says how many).
type memSink struct {
	v    *wire.Verifier
	left int64
}

func (m *memSink) Write(p []byte) (int, error) {
	n, _ := m.v.Write(p) // never fails: it records problems instead
	m.left -= int64(len(p))
	if m.left < 0 {
		return n, errExtraBytes
	}
	return n, nil
}

// runMem: the Verifier counts synchronously inside the consumer's writes, so
// when Wait returns the sink has counted everything.
func (b *bencher) runMem(s strategy.Strategy, h wire.Header) (sample, error) {
	v := wire.NewVerifier(h)
	run, err := prepare(context.Background(), s, &memSink{v: v, left: h.TotalBytes()}, h)
	if err != nil {
		return sample{}, fmt.Errorf("prepare: %w", err)
	}
	m := startMeasure(s, h)
	run.Start()
	end, werr := b.wait(run, h, nil)
	sm := m.stop(end)
	if errors.Is(werr, errHung) {
		return sample{}, werr // the contestant may still be writing into v
	}
	sm.verdict = v.Verdict()
	if werr != nil && !sm.verdict.OK {
		return sm, nil // the sink's account of what went wrong says more
	}
	return sm, werr
}

// runTCP: the clock stops when the sink has counted every byte (see
// stopClock), not when the producers are done.
func (b *bencher) runTCP(ctx context.Context, s strategy.Strategy, h wire.Header) (sample, error) {
	c, err := sink.Dial(ctx, b.addr, h)
	if err != nil {
		return sample{}, fmt.Errorf("dial sink: %w", err)
	}
	defer c.Close()
	// Cancelling ctx closes the connection, which fails the strategy's
	// writes and so unblocks Wait.
	defer context.AfterFunc(ctx, func() { _ = c.Close() })()

	run, err := prepare(ctx, s, c.Conn, h)
	if err != nil {
		return sample{}, fmt.Errorf("prepare: %w", err)
	}
	m := startMeasure(s, h)
	run.Start()
	_, werr := b.wait(run, h, func() { _ = c.Close() })
	if werr != nil {
		m.stop(time.Now())
		if !errors.Is(werr, errHung) {
			// The sink rejects a stream it cannot verify (extra bytes, say)
			// and closes it, which is why the writes failed: its verdict
			// explains more than "broken pipe" does.
			vctx, cancel := context.WithTimeout(ctx, time.Second)
			vd, _, verr := c.Verdict(vctx)
			cancel()
			if verr == nil && !vd.OK {
				return sample{verdict: vd}, nil
			}
		}
		return sample{}, werr
	}
	verdict, arrived, err := c.Verdict(ctx)
	sm := m.stop(b.stopClock(m.start, arrived, verdict))
	if err != nil {
		return sample{}, fmt.Errorf("sink verdict: %w", err)
	}
	sm.verdict = verdict
	return sm, nil
}

// stopClock returns the end of a TCP run that started at start and whose
// verdict arrived at arrived: the moment the sink had counted the last byte.
// The in-process sink shares our clock, so the verdict's own record of that
// moment is used; the verdict's arrival would add its trip back to us, one
// loopback message and a goroutine wake-up: about 64 µs per run on the
// reference machine, 40% of a 16-producer run of direct. An external
// sink's clock may be another machine's, so for it, and for a record that
// falls outside the run (a clock step), the arrival is used.
func (b *bencher) stopClock(start, arrived time.Time, vd wire.Verdict) time.Time {
	if b.cfg.Addr != "" || vd.CompletedUnixNs == 0 {
		return arrived
	}
	counted := time.Unix(0, vd.CompletedUnixNs)
	if counted.Before(start) || counted.After(arrived) {
		return arrived
	}
	return counted
}

// errHung is returned when a run outlives its timeout.
var errHung = errors.New("run did not finish in time (a contestant hung?)")

// runTimeout is how long one run of h may take: a minute plus 20 µs per
// message, about five times the slowest contestant (chan-serial over TCP).
func (c Config) runTimeout(h wire.Header) time.Duration {
	if c.RunTimeout != 0 {
		return c.RunTimeout
	}
	return time.Minute + time.Duration(h.TotalMessages())*20*time.Microsecond
}

// wait waits for run (on a helper goroutine, which records the time Wait
// returned) at most the run timeout. On timeout it calls abort (if set),
// returns errHung and leaves the helper goroutine blocked in Wait: there is
// no way to stop a contestant that hangs, but the benchmark must not hang too.
func (b *bencher) wait(run strategy.Run, h wire.Header, abort func()) (time.Time, error) {
	type waited struct {
		end time.Time
		err error
	}
	done := make(chan waited, 1)
	go func() {
		err := run.Wait()
		done <- waited{time.Now(), err}
	}()
	timeout := b.cfg.runTimeout(h)
	if timeout < 0 {
		w := <-done
		return w.end, w.err
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case w := <-done:
		return w.end, w.err
	case <-t.C:
		if abort != nil {
			abort()
		}
		return time.Now(), fmt.Errorf("%w: still running after %v", errHung, timeout)
	}
}

// measure is one timed region in progress.
type measure struct {
	start   time.Time
	mallocs uint64
	heap    *heapSampler
	task    *trace.Task // the run's, in an execution trace; nil without one
}

// startMeasure prepares the process for a timed run and starts the clock.
// The order matters: collect and return memory first (so the scavenger and
// a pending GC do not run inside the timed region), then read the
// allocation counter (a stop-the-world, so outside the region), then start
// the heap sampler, and only then the clock.
//
// In an execution trace (fanin bench --trace) the region is a task named
// "run", with the cell of s and h logged under "cell", so that go tool
// trace lists every run and what each goroutine did in it.
func startMeasure(s strategy.Strategy, h wire.Header) *measure {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := &measure{mallocs: ms.Mallocs, heap: startHeapSampler(time.Millisecond)}
	if trace.IsEnabled() {
		var ctx context.Context
		ctx, m.task = trace.NewTask(context.Background(), "run")
		trace.Log(ctx, "cell", s.Name()+"/"+strconv.Itoa(h.Producers))
	}
	m.start = time.Now()
	return m
}

// stop ends the timed region at end (which may be earlier than now: the
// moment the sink counted the last byte) and collects the counters.
func (m *measure) stop(end time.Time) sample {
	if m.task != nil {
		m.task.End()
	}
	peak := m.heap.stop()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return sample{elapsed: end.Sub(m.start), mallocs: ms.Mallocs - m.mallocs, peakHeap: peak}
}

// heapMetric is the live heap (objects, including not yet swept garbage):
// readable without stopping the world, unlike runtime.ReadMemStats.
const heapMetric = "/memory/classes/heap/objects:bytes"

// heapSampler tracks the peak of heapMetric during a run.
type heapSampler struct {
	done chan struct{}
	wg   sync.WaitGroup
	s    []metrics.Sample
	peak uint64
}

func startHeapSampler(every time.Duration) *heapSampler {
	h := &heapSampler{done: make(chan struct{}), s: []metrics.Sample{{Name: heapMetric}}}
	h.read()
	t := time.NewTicker(every)
	running := make(chan struct{})
	h.wg.Go(func() {
		defer t.Stop()
		close(running)
		for {
			select {
			case <-h.done:
				return
			case <-t.C:
				h.read()
			}
		}
	})
	<-running // its first scheduling belongs before the clock, not in the timed run
	return h
}

// read takes one sample; only the sampler goroutine calls it while running.
func (h *heapSampler) read() {
	metrics.Read(h.s)
	if h.s[0].Value.Kind() == metrics.KindUint64 {
		h.peak = max(h.peak, h.s[0].Value.Uint64())
	}
}

// stop ends sampling, takes a last sample, and returns the peak.
func (h *heapSampler) stop() uint64 {
	close(h.done)
	h.wg.Wait()
	h.read()
	return h.peak
}

// ParseProducers parses a comma-separated list of producer counts ("1,4,16").
func ParseProducers(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad producer count %q (want a positive integer)", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("no producer counts")
	}
	return out, nil
}

// ParseStrategies parses a comma-separated list of contestant names; "all"
// (or an empty string) selects every contestant in the standard order.
func ParseStrategies(s string) ([]strategy.Strategy, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "all" {
		return strategy.All(), nil
	}
	var out []strategy.Strategy
	seen := map[string]bool{}
	for name := range strings.SplitSeq(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" || seen[name] {
			continue
		}
		st, err := strategy.Lookup(name)
		if err != nil {
			return nil, err
		}
		seen[name] = true
		out = append(out, st)
	}
	if len(out) == 0 {
		return nil, errors.New("no strategies")
	}
	return out, nil
}
