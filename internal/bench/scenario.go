package bench

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/fanin-dev/fanin"
	"github.com/fanin-dev/fanin/internal/report"
	"github.com/fanin-dev/fanin/internal/strategy"
	"github.com/fanin-dev/fanin/internal/wire"
)

// The scenarios measure what the matrix cannot: the cost of being idle, the
// memory bound under overload, and latency at a modest rate. Each answers
// one of the project's performance targets with figures from one run.
const (
	// ScenarioIdle: CPU used by an open, empty fan-in whose consumer is parked.
	ScenarioIdle = "idle"
	// ScenarioOverload: peak heap while producers outrun a throttled sink.
	ScenarioOverload = "overload"
	// ScenarioLatency: send-to-sink latency of framed messages at a fixed rate.
	ScenarioLatency = "latency"
	// ScenarioAll runs the three in the order above.
	ScenarioAll = "all"
)

// ScenarioNames lists the scenarios in the order "all" runs them.
func ScenarioNames() []string {
	return []string{ScenarioIdle, ScenarioOverload, ScenarioLatency}
}

// ParseScenarios parses a comma-separated list of scenario names; "all"
// selects every one.
func ParseScenarios(s string) ([]string, error) {
	var out []string
	for name := range strings.SplitSeq(s, ",") {
		name = strings.TrimSpace(name)
		switch {
		case name == "":
			continue
		case name == ScenarioAll:
			return ScenarioNames(), nil
		case !slices.Contains(ScenarioNames(), name):
			return nil, fmt.Errorf("unknown scenario %q (valid: %s, %s)", name, strings.Join(ScenarioNames(), ", "), ScenarioAll)
		case !slices.Contains(out, name):
			out = append(out, name)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no scenario")
	}
	return out, nil
}

// Scenario defaults: the workloads of the project's targets 5, 6 and 7.
const (
	DefaultIdleTime          = 3 * time.Second
	DefaultOverloadTime      = 5 * time.Second
	DefaultLatencyTime       = 3 * time.Second
	DefaultOverloadProducers = 1024
	DefaultSinkRate          = 1_000_000 // bytes per second: "~1 MB/s"
	// DefaultHeapLimit stops an overload run whose heap has grown this much:
	// the unbounded design would otherwise take the machine's memory, and
	// reaching the limit is the demonstration.
	DefaultHeapLimit        = 512 << 20
	DefaultLatencyProducers = 16
	DefaultLatencyRate      = 10_000 // messages per second, all producers together
)

// OverloadStrategies and LatencyStrategies are the designs each scenario
// compares (by name; "unbounded" is strategy.Unbounded, outside All()).
var (
	OverloadStrategies = []string{"fanin", "fanin-lanes", "mutex-swap", "chan-batch", "unbounded"}
	LatencyStrategies  = []string{"chan-batch", "mutex-swap", "fanin", "fanin-lanes"}
)

// ScenarioConfig tunes the scenarios; the zero value runs the defaults.
type ScenarioConfig struct {
	// Duration is how long each subject of a scenario is measured; 0: the
	// scenario's default (idle 3 s, overload 5 s, latency 3 s).
	Duration time.Duration
	Size     int // framed message size for overload and latency; 0: DefaultFramedSize

	OverloadProducers int    // 0: DefaultOverloadProducers
	SinkRate          int64  // overload sink speed in bytes/s; 0: DefaultSinkRate
	HeapLimit         uint64 // heap growth that ends an overload run early; 0: DefaultHeapLimit

	LatencyProducers int // 0: DefaultLatencyProducers
	LatencyRate      int // messages per second in total; 0: DefaultLatencyRate

	// Strategies, if set, replaces OverloadStrategies and LatencyStrategies:
	// the designs measured (strategy.FeedNames), in order.
	Strategies []string

	// Extra are designs from outside internal/strategy (the peers module's),
	// measured by overload and latency after the project's own, in order.
	Extra []ExtraDesign

	// HeapProfiles, if set, is where the overload scenario writes a heap
	// profile of each design, taken after a collection as its producers
	// stop: HeapProfiles + "-" + design + ".pb.gz". It profiles as it
	// finds runtime.MemProfileRate; set that to 1 to see every allocation.
	HeapProfiles string

	// Log, if set, gets one line per measured subject, for progress.
	Log io.Writer
}

// ExtraDesign is a design the scenarios measure beside the project's own:
// the scenarios know it only by its name and how to open it.
type ExtraDesign struct {
	Name string
	Open strategy.FeedOpener
	// Bound, if set, is the most the design buffers for h, in bytes, as
	// strategy.Bound reports for the project's designs; nil: unbounded.
	Bound func(h wire.Header) int64
}

// designs returns the names a scenario measures: the project's (def, or
// c.Strategies if set) and then the extra ones.
func (c ScenarioConfig) designs(def []string) []string {
	names := def
	if c.Strategies != nil {
		names = c.Strategies
	}
	names = slices.Clone(names)
	for _, e := range c.Extra {
		names = append(names, e.Name)
	}
	return names
}

// extra returns the extra design of that name, if there is one.
func (c ScenarioConfig) extra(name string) (ExtraDesign, bool) {
	i := slices.IndexFunc(c.Extra, func(e ExtraDesign) bool { return e.Name == name })
	if i < 0 {
		return ExtraDesign{}, false
	}
	return c.Extra[i], true
}

// openFeed opens the named design: an extra one if it has that name, else
// one of the project's.
func (c ScenarioConfig) openFeed(name string, dst io.Writer, h wire.Header) (strategy.Feeder, error) {
	if e, ok := c.extra(name); ok {
		return e.Open(dst, h)
	}
	return strategy.OpenFeed(name, dst, h)
}

// bound is the named design's capacity in bytes for h; 0: none.
func (c ScenarioConfig) bound(name string, h wire.Header) int64 {
	if e, ok := c.extra(name); ok {
		if e.Bound == nil {
			return 0
		}
		return e.Bound(h)
	}
	b, _ := strategy.Bound(name, h)
	return b
}

func (c ScenarioConfig) normalize() ScenarioConfig {
	if c.Size == 0 {
		c.Size = DefaultFramedSize
	}
	if c.OverloadProducers == 0 {
		c.OverloadProducers = DefaultOverloadProducers
	}
	if c.SinkRate == 0 {
		c.SinkRate = DefaultSinkRate
	}
	if c.HeapLimit == 0 {
		c.HeapLimit = DefaultHeapLimit
	}
	if c.LatencyProducers == 0 {
		c.LatencyProducers = DefaultLatencyProducers
	}
	if c.LatencyRate == 0 {
		c.LatencyRate = DefaultLatencyRate
	}
	if c.Log == nil {
		c.Log = io.Discard
	}
	return c
}

func (c ScenarioConfig) duration(def time.Duration) time.Duration {
	if c.Duration > 0 {
		return c.Duration
	}
	return def
}

// Scenarios is what one `fanin bench --scenario` run measured; it is written
// as scenarios.json. A scenario that did not run has no key.
type Scenarios struct {
	Machine  string           `json:"machine"`
	Started  time.Time        `json:"started"`
	Command  string           `json:"command,omitempty"`
	Idle     []IdleResult     `json:"idle,omitempty"`
	Overload []OverloadResult `json:"overload,omitempty"`
	Latency  []LatencyResult  `json:"latency,omitempty"`
}

// IdleResult is the CPU one idle subject used.
type IdleResult struct {
	Subject    string  `json:"subject"`
	Seconds    float64 `json:"seconds"`     // wall time measured
	CPUSeconds float64 `json:"cpu_seconds"` // user+system time of the whole process meanwhile
	CPUPercent float64 `json:"cpu_percent"` // of one core
}

// OverloadResult is one design under overload.
type OverloadResult struct {
	Strategy  string  `json:"strategy"`
	Producers int     `json:"producers"`
	Size      int     `json:"message_size"`
	SinkRate  int64   `json:"sink_rate_bytes_per_s"`
	Seconds   float64 `json:"seconds"` // how long the producers ran
	// CapacityBytes is the configured bound (0: none).
	CapacityBytes int64 `json:"capacity_bytes"`
	// BaselineHeap is the live heap before the run was prepared; PeakHeap
	// the highest sampled during it (1 ms samples, until every accepted
	// message was written); Growth their difference: what the run cost.
	BaselineHeap uint64 `json:"baseline_heap_bytes"`
	PeakHeap     uint64 `json:"peak_heap_bytes"`
	Growth       uint64 `json:"heap_growth_bytes"`
	// PeakLive is the highest heap marked live by a GC while the producers
	// ran: without garbage, but only as fresh as the last GC.
	PeakLive uint64 `json:"peak_live_heap_bytes"`
	// GrowthPerCapacity is Growth / CapacityBytes (0 without a bound).
	GrowthPerCapacity float64 `json:"growth_per_capacity,omitempty"`
	// SettledGrowth is the median of HeapSeries after the first second,
	// less the baseline: what the design holds, live, once its buffers have
	// reached their size. Growth also counts garbage, which the runtime
	// collects only once the heap reaches its goal (4 MiB at least).
	SettledGrowth uint64 `json:"settled_growth_bytes"`
	// HeapSeries samples the live heap every 250 ms while the producers
	// run, each sample right after a forced collection.
	HeapSeries []uint64 `json:"heap_series_bytes"`
	// SinkBytesPerSec is what the sink took while the producers ran: about
	// SinkRate when the sink is the bottleneck, as it must be.
	SinkBytesPerSec float64 `json:"sink_bytes_per_s"`
	// Sent counts the messages the producers handed to the fan-in (each
	// producer counts its own); Delivered those the sink received, including
	// the backlog written after the producers stopped (the sink is then
	// unthrottled). Verified requires, per producer, exactly what it sent.
	Sent      int64 `json:"sent_messages"`
	Delivered int64 `json:"delivered_messages"`
	// HeapLimitHit says the run was cut short by the heap limit.
	HeapLimitHit bool `json:"heap_limit_hit,omitempty"`
	Verified     bool `json:"verified"`
}

// LatencyResult is one design's send-to-sink latency at a fixed rate.
type LatencyResult struct {
	Strategy  string  `json:"strategy"`
	Producers int     `json:"producers"`
	Size      int     `json:"message_size"`
	Rate      float64 `json:"messages_per_s"` // achieved
	Messages  int64   `json:"messages"`
	P50Us     float64 `json:"latency_p50_us"`
	P99Us     float64 `json:"latency_p99_us"`
	MaxUs     float64 `json:"latency_max_us"`
	Verified  bool    `json:"verified"`
}

// RunScenarios runs the named scenarios in order. Every stream is verified;
// the first failure ends the run with an error (and what was measured).
func RunScenarios(ctx context.Context, names []string, cfg ScenarioConfig) (Scenarios, error) {
	cfg = cfg.normalize()
	out := Scenarios{
		Machine: report.MachineLine(report.New()),
		Started: time.Now().UTC().Truncate(time.Second),
	}
	for _, name := range names {
		var err error
		switch name {
		case ScenarioIdle:
			out.Idle, err = runIdle(ctx, cfg)
		case ScenarioOverload:
			out.Overload, err = runOverload(ctx, cfg)
		case ScenarioLatency:
			out.Latency, err = runLatency(ctx, cfg)
		default:
			err = fmt.Errorf("unknown scenario %q", name)
		}
		if err != nil {
			return out, fmt.Errorf("bench: scenario %s: %w", name, err)
		}
	}
	return out, nil
}

// --- idle ---

// cpuTime is the user+system CPU time the whole process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measureIdle returns the process CPU used over d of wall time. The whole
// process is measured, not a goroutine: a consumer that spins or polls
// anywhere (timers, runtime helpers) shows up. The caller must be otherwise
// quiet; the measuring goroutine itself sleeps.
func measureIdle(ctx context.Context, subject string, d time.Duration) (IdleResult, error) {
	runtime.GC() // not inside the window
	// Let the subject's goroutines reach their parking spots first.
	if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
		return IdleResult{}, err
	}
	c0, t0 := cpuTime(), time.Now()
	err := sleepCtx(ctx, d)
	c1, t1 := cpuTime(), time.Now()
	wall := t1.Sub(t0)
	return IdleResult{
		Subject:    subject,
		Seconds:    wall.Seconds(),
		CPUSeconds: (c1 - c0).Seconds(),
		CPUPercent: 100 * (c1 - c0).Seconds() / wall.Seconds(),
	}, err
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// idleSubject sets up one idle fan-in and returns how to tear it down.
type idleSubject struct {
	name  string
	start func() (stop func() error, err error)
}

var idleSubjects = []idleSubject{
	{"process alone (noise floor)", func() (func() error, error) {
		return func() error { return nil }, nil
	}},
	{"fanin.Queue, consumer in Drain", func() (func() error, error) {
		q := fanin.NewQueue[[]byte]()
		done := make(chan error, 1)
		go func() {
			_, err := q.Drain(context.Background(), nil)
			done <- err
		}()
		return func() error {
			q.Close()
			if err := <-done; err != io.EOF {
				return fmt.Errorf("idle Drain returned %v, want io.EOF", err)
			}
			return nil
		}, nil
	}},
	{"fanin.Writer, flusher parked", func() (func() error, error) {
		w := fanin.NewWriter(io.Discard)
		return w.Close, nil
	}},
	{"fanin-lanes: Writer, 16 open lanes", func() (func() error, error) {
		return openIdleFeed("fanin-lanes")
	}},
	{"mutex-swap, consumer parked", func() (func() error, error) {
		return openIdleFeed("mutex-swap")
	}},
	{"chan-batch, consumer parked", func() (func() error, error) {
		return openIdleFeed("chan-batch")
	}},
}

// openIdleFeed opens a contestant's fan-in with its consumer started and no
// message sent: the consumer parks as it does whenever producers are quiet.
func openIdleFeed(name string) (func() error, error) {
	h := wire.Header{Mode: wire.Framed, Producers: 16, Messages: 1 << 20, Size: DefaultFramedSize, Label: "idle"}
	f, err := strategy.OpenFeed(name, io.Discard, h)
	if err != nil {
		return nil, err
	}
	return f.Close, nil
}

func runIdle(ctx context.Context, cfg ScenarioConfig) ([]IdleResult, error) {
	// An earlier scenario's garbage (overload's unbounded design leaves
	// hundreds of MiB) would otherwise be collected and returned to the OS
	// in the background while idle CPU is measured: 1.5% of a core, seen.
	runtime.GC()
	debug.FreeOSMemory()
	d := cfg.duration(DefaultIdleTime)
	var out []IdleResult
	for _, s := range idleSubjects {
		stop, err := s.start()
		if err != nil {
			return out, err
		}
		r, merr := measureIdle(ctx, s.name, d)
		if err := errors.Join(merr, stop()); err != nil {
			return out, fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Fprintf(cfg.Log, "idle: %-30s %6.2f%% of a core\n", s.name, r.CPUPercent)
		out = append(out, r)
	}
	return out, nil
}

// --- overload ---

// heapBytes reads the live heap without stopping the world.
func heapBytes(s []metrics.Sample) uint64 {
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

func runOverload(ctx context.Context, cfg ScenarioConfig) ([]OverloadResult, error) {
	var out []OverloadResult
	for _, name := range cfg.designs(OverloadStrategies) {
		r, err := overloadRun(ctx, name, cfg)
		if err != nil {
			return out, fmt.Errorf("%s: %w", name, err)
		}
		fmt.Fprintf(cfg.Log, "overload: %-12s peak heap %s (growth %s, capacity %s)\n",
			name, formatBytes(r.PeakHeap), formatBytes(r.Growth), formatCapacity(r.CapacityBytes))
		out = append(out, r)
	}
	return out, nil
}

// launchProducers starts n producer goroutines running body(p) and returns
// once every one is parked at the start gate, so that goroutine creation
// stays out of what is measured: release opens the gate, wait waits for
// every body to return.
func launchProducers(n int, body func(p int)) (release, wait func()) {
	var ready, wg sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	for p := range n {
		wg.Go(func() {
			ready.Done()
			<-start
			body(p)
		})
	}
	ready.Wait()
	return func() { close(start) }, wg.Wait
}

// overloadMessages is what the header announces per producer; it only sizes
// the contestants' buffers (as in a long matrix run), since the producers
// run for a time, not a count.
const overloadMessages = 1 << 31

// drainTimeout bounds the wait for stopped producers and the backlog (the
// sink is unthrottled by then): a contestant that hangs fails the scenario.
const drainTimeout = 2 * time.Minute

// liveMetric is the heap marked live by the last GC: it leaves out the
// garbage that heapMetric still counts, but only changes when a GC ends.
const liveMetric = "/gc/heap/live:bytes"

// overloadRun runs producers flat out through the named design into a
// throttled sink for the configured time (or until the heap limit), then
// stops them, unthrottles the sink, and waits until everything accepted was
// written. Each producer counts what it sent; the sink must have received
// exactly that, in order. The peak heap covers the whole run, backlog included.
func overloadRun(ctx context.Context, name string, cfg ScenarioConfig) (OverloadResult, error) {
	h := wire.Header{Mode: wire.Framed, Producers: cfg.OverloadProducers, Messages: overloadMessages,
		Size: cfg.Size, Label: name}
	capacity := cfg.bound(name, h)
	res := OverloadResult{Strategy: name, Producers: h.Producers, Size: h.Size,
		SinkRate: cfg.SinkRate, CapacityBytes: capacity}

	// The runtime keeps a finished goroutine's descriptor for reuse: start
	// and finish as many goroutines as the run's producers first, so that
	// the first design measured does not pay for descriptors the later
	// ones find ready.
	warm, done := launchProducers(h.Producers, func(int) {})
	warm()
	done()
	runtime.GC()
	debug.FreeOSMemory() // the previous run's backlog must not count here
	hs := []metrics.Sample{{Name: heapMetric}, {Name: liveMetric}}
	res.BaselineHeap = heapBytes(hs)

	check, err := newFrameCheck(h)
	if err != nil {
		return res, err
	}
	sink := newThrottle(check, cfg.SinkRate)
	feed, err := cfg.openFeed(name, sink, h)
	if err != nil {
		return res, err
	}
	sent := make([]uint32, h.Producers)
	var stop atomic.Bool
	release, waitProducers := launchProducers(h.Producers, func(p int) {
		scratch := make([]byte, 0, h.Size)
		var seq uint32
		for !stop.Load() {
			scratch = wire.AppendMessage(scratch[:0], h, p, int(seq))
			if !feed.Send(p, scratch) {
				break // the run failed; Close reports why
			}
			seq++
		}
		sent[p] = seq
	})
	finished := make(chan error, 1)
	peak := startHeapSampler(time.Millisecond)
	var seenPeak uint64 // the largest heap the loop below read
	start := time.Now()
	release()
	go func() {
		waitProducers()
		finished <- feed.Close()
	}()

	// The producing phase: sample the heap for the series and the limit.
	deadline := time.NewTimer(cfg.duration(DefaultOverloadTime))
	tick := time.NewTicker(5 * time.Millisecond)
	nextSeries := start
	var early error
producing:
	for {
		select {
		case <-deadline.C:
			break producing
		case <-ctx.Done():
			early = ctx.Err()
			break producing
		case err := <-finished: // producers stop by themselves only on failure
			finished <- err
			early = fmt.Errorf("producers stopped before the deadline: %v", err)
			break producing
		case now := <-tick.C:
			hb := heapBytes(hs)
			seenPeak = max(seenPeak, hb)
			res.PeakLive = max(res.PeakLive, hs[1].Value.Uint64())
			if !now.Before(nextSeries) {
				// Collect first: the sample is then what the design holds,
				// not garbage waiting for the runtime's heap goal.
				runtime.GC()
				metrics.Read(hs)
				live := hs[1].Value.Uint64()
				res.PeakLive = max(res.PeakLive, live)
				res.HeapSeries = append(res.HeapSeries, live)
				nextSeries = nextSeries.Add(250 * time.Millisecond)
			}
			if hb > res.BaselineHeap && hb-res.BaselineHeap > cfg.HeapLimit {
				res.HeapLimitHit = true
				break producing
			}
		}
	}
	tick.Stop()
	deadline.Stop()
	if cfg.HeapProfiles != "" {
		if err := writeHeapProfile(cfg.HeapProfiles + "-" + name + ".pb.gz"); err != nil {
			early = errors.Join(early, err)
		}
	}
	stop.Store(true)
	elapsed := time.Since(start)
	took := sink.consumed()
	sink.unthrottle() // parked producers and the backlog drain at full speed

	var werr error
	t := time.NewTimer(drainTimeout)
	select {
	case werr = <-finished:
	case <-t.C:
		werr = fmt.Errorf("producers and backlog not done within %v of the stop", drainTimeout)
	}
	t.Stop()
	// The sampler may not have run at the moment this loop saw the heap
	// past the limit (producers flat out keep both CPUs busy): take what
	// either saw.
	res.PeakHeap = max(peak.stop(), seenPeak)
	res.Seconds = elapsed.Seconds()
	res.SinkBytesPerSec = float64(took) / elapsed.Seconds()
	res.Growth = res.PeakHeap - min(res.BaselineHeap, res.PeakHeap)
	res.SettledGrowth = settledGrowth(res.HeapSeries, res.BaselineHeap)
	if capacity > 0 {
		res.GrowthPerCapacity = float64(res.Growth) / float64(capacity)
	}
	if err := errors.Join(early, werr); err != nil {
		return res, err
	}
	for p, n := range sent {
		res.Sent += int64(n)
		if got := check.next[p]; got != n {
			check.problem("producer %d: sent %d messages, the sink received %d", p, n, got)
		}
	}
	res.Delivered = check.messages
	if err := check.err(); err != nil {
		return res, err
	}
	res.Verified = true
	return res, nil
}

// writeHeapProfile collects, then writes the heap profile to path: what is
// live now, by the allocations that made it.
func writeHeapProfile(path string) error {
	runtime.GC()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// settledGrowth is the median of the heap samples after the first second
// (four samples, 250 ms apart) less the baseline; with fewer samples, of all
// but the first.
func settledGrowth(series []uint64, baseline uint64) uint64 {
	skip := min(4, len(series)-1)
	if skip < 0 {
		return 0
	}
	settled := slices.Clone(series[skip:])
	slices.Sort(settled)
	m := settled[len(settled)/2]
	return m - min(m, baseline)
}

// throttle is the overload sink: it takes at most rate bytes per second,
// in chunks, sleeping (never spinning) between them, so a contestant's
// writer blocks in Write exactly as it would on a slow client. Idle time
// earns at most one chunk of credit, so it never bursts. unthrottle lifts the limit, also for
// a Write in progress, so that a stopped run's backlog drains at once.
type throttle struct {
	dst   io.Writer
	rate  int64
	fast  chan struct{}
	once  sync.Once
	taken atomic.Int64

	// Owned by the (single) writing goroutine.
	next  time.Time
	timer *time.Timer
}

// throttleChunk is the sink's unit of work: at 1 MB/s, one chunk per ~4 ms.
const throttleChunk = 4 << 10

func newThrottle(dst io.Writer, rate int64) *throttle {
	return &throttle{dst: dst, rate: rate, fast: make(chan struct{})}
}

// Write implements io.Writer. It is not safe for concurrent use, like the
// sinks of every contestant (each has one writing goroutine).
func (t *throttle) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		n := min(len(p), throttleChunk)
		if err := t.wait(n); err != nil {
			return written, err
		}
		if _, err := t.dst.Write(p[:n]); err != nil {
			return written, err
		}
		t.taken.Add(int64(n))
		written += n
		p = p[n:]
	}
	return written, nil
}

// wait paces n bytes: it returns once the sink has had time to take them.
func (t *throttle) wait(n int) error {
	select {
	case <-t.fast:
		return nil
	default:
	}
	now := time.Now()
	// Keep the schedule when a wake-up was merely late (timers are, by tens
	// of µs: resetting to now would lose that much per chunk, ~7% at
	// 1 MB/s), but give no more than one chunk of credit for idle time.
	credit := time.Duration(int64(throttleChunk) * int64(time.Second) / t.rate)
	if t.next.Before(now.Add(-credit)) {
		t.next = now.Add(-credit)
	}
	t.next = t.next.Add(time.Duration(int64(n) * int64(time.Second) / t.rate))
	d := t.next.Sub(now)
	if d <= 0 {
		return nil
	}
	if t.timer == nil {
		t.timer = time.NewTimer(d)
	} else {
		t.timer.Reset(d)
	}
	select {
	case <-t.timer.C:
	case <-t.fast:
		t.timer.Stop()
	}
	return nil
}

// unthrottle lifts the limit for good; safe from any goroutine.
func (t *throttle) unthrottle() { t.once.Do(func() { close(t.fast) }) }

// consumed is how many bytes the sink has taken so far; safe from any goroutine.
func (t *throttle) consumed() int64 { return t.taken.Load() }

// frameCheck verifies a framed stream whose length is not known in advance
// (the producers ran for a time, not a count), which wire.Verifier cannot:
// it needs the count up front. Each producer's messages must arrive as seq
// 0, 1, 2, ... with nothing skipped, repeated or reordered, each one whole,
// with its payload intact (compared with wire.AppendMessage's own). next
// then holds what each producer delivered, for the caller to compare with
// what each one sent.
type frameCheck struct {
	h        wire.Header
	next     []uint32 // per producer, the seq expected next
	part     []byte   // a message split across writes
	ref      []byte   // scratch for the reference message
	messages int64
	problems int64
	errs     []string // the first few problems
}

func newFrameCheck(h wire.Header) (*frameCheck, error) {
	if err := h.Validate(); err != nil {
		return nil, err
	}
	if h.Mode != wire.Framed {
		return nil, errors.New("frame check needs framed mode")
	}
	return &frameCheck{h: h, next: make([]uint32, h.Producers), part: make([]byte, 0, h.Size)}, nil
}

// Write implements io.Writer; it never fails (problems are recorded).
func (c *frameCheck) Write(p []byte) (int, error) {
	n, size := len(p), c.h.Size
	for len(p) > 0 {
		if len(c.part) == 0 && len(p) >= size {
			c.message(p[:size])
			p = p[size:]
			continue
		}
		k := min(size-len(c.part), len(p))
		c.part = append(c.part, p[:k]...)
		p = p[k:]
		if len(c.part) == size {
			c.message(c.part)
			c.part = c.part[:0]
		}
	}
	return n, nil
}

func (c *frameCheck) problem(format string, args ...any) {
	c.problems++
	if len(c.errs) < maxScenarioErrors {
		c.errs = append(c.errs, fmt.Sprintf(format, args...))
	}
}

const maxScenarioErrors = 10

func (c *frameCheck) message(m []byte) {
	index := c.messages
	c.messages++
	producer := binary.LittleEndian.Uint32(m[0:])
	seq := binary.LittleEndian.Uint32(m[4:])
	if int64(producer) >= int64(c.h.Producers) {
		c.problem("message %d: producer %d out of range", index, producer)
		return
	}
	switch want := c.next[producer]; {
	case seq < want:
		c.problem("producer %d: seq %d again or out of order (expected %d)", producer, seq, want)
	case seq > want:
		c.problem("producer %d: seq %d arrived, %d..%d are missing", producer, seq, want, seq-1)
	}
	c.next[producer] = max(c.next[producer], seq+1)
	c.ref = wire.AppendMessage(c.ref[:0], c.h, int(producer), int(seq))
	if string(c.ref[wire.FrameSize:]) != string(m[wire.FrameSize:]) {
		c.problem("producer %d seq %d: payload corrupted", producer, seq)
	}
}

// err summarises the problems found, nil if none.
func (c *frameCheck) err() error {
	if len(c.part) > 0 {
		c.problem("stream ends inside a message (%d of %d bytes)", len(c.part), c.h.Size)
	}
	if c.problems == 0 {
		return nil
	}
	msg := strings.Join(c.errs, "; ")
	if more := c.problems - int64(len(c.errs)); more > 0 {
		msg += fmt.Sprintf("; ... and %d more", more)
	}
	return fmt.Errorf("stream not verified: %s", msg)
}

// --- latency ---

func runLatency(ctx context.Context, cfg ScenarioConfig) ([]LatencyResult, error) {
	var out []LatencyResult
	for _, name := range cfg.designs(LatencyStrategies) {
		r, err := latencyRun(ctx, name, cfg)
		if err != nil {
			return out, fmt.Errorf("%s: %w", name, err)
		}
		fmt.Fprintf(cfg.Log, "latency: %-12s p50 %s µs  p99 %s µs  max %s µs\n",
			name, report.FormatNs(r.P50Us), report.FormatNs(r.P99Us), report.FormatNs(r.MaxUs))
		out = append(out, r)
	}
	return out, nil
}

// latencyRun paces each producer with a ticker at rate/producers messages
// per second, the producers spread evenly over one period, so messages
// arrive one at a time and the fan-in is idle in between: the latency of
// the consumer's wake-up, not of a queue. The sink is wire.Verifier in
// process (no socket), which checks the stream and measures each message
// from its send time (stamped when it is made) to the Write that completed it.
func latencyRun(ctx context.Context, name string, cfg ScenarioConfig) (LatencyResult, error) {
	producers := cfg.LatencyProducers
	period := time.Duration(int64(time.Second) * int64(producers) / int64(cfg.LatencyRate))
	messages := max(1, int(cfg.duration(DefaultLatencyTime)/period))
	h := wire.Header{Mode: wire.Framed, Producers: producers, Messages: messages, Size: cfg.Size, Label: name}
	res := LatencyResult{Strategy: name, Producers: producers, Size: h.Size}
	v := wire.NewVerifier(h)
	feed, err := cfg.openFeed(name, v, h)
	if err != nil {
		return res, err
	}
	runtime.GC()
	release, wait := launchProducers(producers, func(p int) {
		scratch := make([]byte, 0, h.Size)
		if sleepCtx(ctx, period*time.Duration(p)/time.Duration(producers)) != nil {
			return
		}
		tick := time.NewTicker(period)
		defer tick.Stop()
		for seq := range messages {
			if seq > 0 {
				select {
				case <-tick.C:
				case <-ctx.Done():
					return // the verdict reports the missing messages
				}
			}
			scratch = wire.AppendMessage(scratch[:0], h, p, seq)
			if !feed.Send(p, scratch) {
				return
			}
		}
	})
	start := time.Now()
	release()
	wait()
	elapsed := time.Since(start)
	if err := feed.Close(); err != nil {
		return res, err
	}
	vd := v.Verdict()
	if err := errors.Join(ctx.Err(), vd.Err()); err != nil {
		return res, err
	}
	res.Messages = vd.ReceivedMessages
	res.Rate = float64(res.Messages) / elapsed.Seconds()
	res.P50Us, res.P99Us, res.MaxUs = vd.LatencyP50Us, vd.LatencyP99Us, vd.LatencyMaxUs
	res.Verified = true
	return res, nil
}

// --- output ---

// WriteScenarioTables prints one table per scenario that ran.
func WriteScenarioTables(w io.Writer, s Scenarios) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, s.Machine)
	if len(s.Idle) > 0 {
		fmt.Fprintf(w, "\nidle: process CPU while the fan-in is open and empty (target < 1%% of a core)\n")
		fmt.Fprintln(tw, "subject\tseconds\tcpu ms\t% of a core\t")
		for _, r := range s.Idle {
			fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.2f%%\t\n", r.Subject, r.Seconds, r.CPUSeconds*1e3, r.CPUPercent)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(s.Overload) > 0 {
		f := s.Overload[0]
		fmt.Fprintf(w, "\noverload: %d producers flat out, %d B framed messages, sink throttled to %.1f MB/s, %.1f s\n",
			f.Producers, f.Size, float64(f.SinkRate)/1e6, f.Seconds)
		fmt.Fprintln(tw, "strategy\tcapacity\tbaseline heap\tpeak heap\tgrowth\tgrowth/capacity\tsettled growth\tsink MB/s\tdelivered\tverified\t")
		var notes []string
		for _, r := range s.Overload {
			ratio := "-"
			if r.CapacityBytes > 0 {
				ratio = fmt.Sprintf("%.2f", r.GrowthPerCapacity)
			}
			mark := ""
			if r.HeapLimitHit {
				mark = " *"
				notes = append(notes, fmt.Sprintf("* %s: stopped by the heap limit after %.1f s", r.Strategy, r.Seconds))
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s%s\t%s\t%s\t%.2f\t%d\t%v\t\n", r.Strategy, formatCapacity(r.CapacityBytes),
				formatBytes(r.BaselineHeap), formatBytes(r.PeakHeap), formatBytes(r.Growth), mark, ratio,
				formatBytes(r.SettledGrowth), r.SinkBytesPerSec/1e6, r.Delivered, r.Verified)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, n := range notes {
			fmt.Fprintln(w, n)
		}
	}
	if len(s.Latency) > 0 {
		f := s.Latency[0]
		fmt.Fprintf(w, "\nlatency: %d producers paced by tickers, %d B framed messages, %.0f msg/s in total, send to sink (in process)\n",
			f.Producers, f.Size, f.Rate)
		fmt.Fprintln(tw, "strategy\tmessages\tp50 µs\tp99 µs\tmax µs\tverified\t")
		for _, r := range s.Latency {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%v\t\n", r.Strategy, r.Messages,
				report.FormatNs(r.P50Us), report.FormatNs(r.P99Us), report.FormatNs(r.MaxUs), r.Verified)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// ScenariosJSON is the file RunScenarios' results are written to.
const ScenariosJSON = "scenarios.json"

// WriteScenariosJSON writes s as indented JSON into dir/scenarios.json,
// creating dir if needed.
func WriteScenariosJSON(dir string, s Scenarios) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, ScenariosJSON), append(b, '\n'), 0o644)
}

// formatBytes prints a byte count in KiB, MiB or GiB with 3 significant digits.
func formatBytes(b uint64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	case b >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	default:
		return fmt.Sprintf("%.0f KiB", float64(b)/(1<<10))
	}
}

func formatCapacity(b int64) string {
	if b <= 0 {
		return "none"
	}
	return formatBytes(uint64(b))
}
