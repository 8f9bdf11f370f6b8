package bench

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fanin-dev/fanin/internal/strategy"
	"github.com/fanin-dev/fanin/internal/wire"
)

func TestParseScenarios(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"idle", []string{"idle"}},
		{"all", ScenarioNames()},
		{"latency, idle,latency", []string{"latency", "idle"}},
		{"idle,all", ScenarioNames()},
	} {
		got, err := ParseScenarios(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseScenarios(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", " , ", "soak", "idle,bogus"} {
		if _, err := ParseScenarios(in); err == nil {
			t.Errorf("ParseScenarios(%q) accepted", in)
		}
	}
}

// byteCounter counts what reaches it.
type byteCounter struct{ n atomic.Int64 }

func (c *byteCounter) Write(p []byte) (int, error) {
	c.n.Add(int64(len(p)))
	return len(p), nil
}

func TestThrottle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var c byteCounter
		th := newThrottle(&c, 1_000_000)
		within := func(what string, got, want time.Duration) {
			t.Helper()
			if d := got - want; d < -time.Millisecond || d > time.Millisecond {
				t.Errorf("%s took %v, want %v", what, got, want)
			}
		}

		start := time.Now()
		if n, err := th.Write(make([]byte, 100_000)); n != 100_000 || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
		chunk := time.Duration(throttleChunk) * time.Microsecond // at 1 MB/s
		// The first chunk goes at once (a fresh sink has a chunk of credit).
		within("100 kB at 1 MB/s", time.Since(start), 100*time.Millisecond-chunk)

		time.Sleep(time.Second) // idle: earns one chunk of credit, no more
		start = time.Now()
		th.Write(make([]byte, 10*throttleChunk))
		within("ten chunks after idling", time.Since(start), 9*chunk)

		// Unthrottling releases a write in progress and lifts the limit.
		took := make(chan time.Duration)
		go func() {
			start := time.Now()
			th.Write(make([]byte, 10_000_000))
			took <- time.Since(start)
		}()
		time.Sleep(50 * time.Millisecond)
		taken := th.consumed()
		th.unthrottle()
		within("10 MB write unthrottled after 50 ms", <-took, 50*time.Millisecond)
		if want := int64(100_000 + 10*throttleChunk + 50_000); taken < want-throttleChunk || taken > want+throttleChunk {
			t.Errorf("consumed %d bytes before unthrottle, want about %d", taken, want)
		}
		if got, want := c.n.Load(), int64(100_000+10*throttleChunk+10_000_000); got != want {
			t.Errorf("destination got %d bytes, want %d", got, want)
		}
	})
}

// framedStream returns producers x messages framed messages, round-robin.
func framedStream(h wire.Header) [][]byte {
	var out [][]byte
	for seq := range h.Messages {
		for p := range h.Producers {
			out = append(out, wire.AppendMessage(nil, h, p, seq))
		}
	}
	return out
}

func TestFrameCheck(t *testing.T) {
	h := wire.Header{Mode: wire.Framed, Producers: 3, Messages: 5, Size: 24}
	feed := func(msgs [][]byte, tail []byte) *frameCheck {
		c, err := newFrameCheck(h)
		if err != nil {
			t.Fatal(err)
		}
		all := append(bytes.Join(msgs, nil), tail...)
		for len(all) > 0 { // in pieces that cut messages anywhere
			n := min(len(all), 7)
			c.Write(all[:n])
			all = all[n:]
		}
		return c
	}
	good := framedStream(h)
	c := feed(good, nil)
	if err := c.err(); err != nil {
		t.Fatalf("good stream: %v", err)
	}
	if c.messages != 15 || !slices.Equal(c.next, []uint32{5, 5, 5}) {
		t.Fatalf("good stream: %d messages, next %v", c.messages, c.next)
	}

	corrupt := slices.Clone(good[4])
	corrupt[h.Size-1]++
	badProducer := wire.AppendMessage(nil, wire.Header{Mode: wire.Framed, Producers: 9, Messages: 1, Size: 24}, 7, 0)
	for name, tc := range map[string]struct {
		msgs [][]byte
		tail []byte
		want string
	}{
		"duplicate": {slices.Insert(slices.Clone(good), 5, good[4]), nil, "again or out of order"},
		"gap":       {slices.Delete(slices.Clone(good), 4, 5), nil, "missing"},
		"reordered": {append([][]byte{good[3]}, slices.Delete(slices.Clone(good), 3, 4)...), nil, "missing"},
		"corrupted": {append(append(slices.Clone(good[:4]), corrupt), good[5:]...), nil, "payload corrupted"},
		"truncated": {good, good[0][:10], "inside a message"},
		"stranger":  {append(slices.Clone(good), badProducer), nil, "out of range"},
	} {
		err := feed(tc.msgs, tc.tail).err()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want it to mention %q", name, err, tc.want)
		}
	}
}

// sendAll runs h's producers through f, each sending its messages in order.
func sendAll(f *strategy.Feed, h wire.Header) {
	var wg sync.WaitGroup
	for p := range h.Producers {
		wg.Go(func() {
			var scratch []byte
			for seq := range h.Messages {
				scratch = wire.AppendMessage(scratch[:0], h, p, seq)
				if !f.Send(p, scratch) {
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestFeedsDeliverExactly(t *testing.T) {
	for _, name := range strategy.FeedNames {
		for _, mode := range []wire.Mode{wire.Byte, wire.Framed} {
			h := wire.Header{Mode: mode, Producers: 8, Messages: 600, Size: 1, Label: name}
			if mode == wire.Framed {
				h.Size = 32
			}
			v := wire.NewVerifier(h)
			f, err := strategy.OpenFeed(name, v, h)
			if err != nil {
				t.Fatal(err)
			}
			sendAll(f, h)
			if err := f.Close(); err != nil {
				t.Fatalf("%s %v: Close: %v", name, mode, err)
			}
			if err := v.Verdict().Err(); err != nil {
				t.Errorf("%s %v: %v", name, mode, err)
			}
		}
	}
	if _, err := strategy.OpenFeed("direct", &byteCounter{}, wire.Header{Mode: wire.Byte, Producers: 1, Messages: 1, Size: 1}); err == nil {
		t.Error("OpenFeed(direct) accepted: direct has no fan-in")
	}
}

// failAfter accepts n bytes, then fails every write.
type failAfter struct{ n int }

var errSinkBroke = errors.New("sink broke")

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n < len(p) {
		return 0, errSinkBroke
	}
	f.n -= len(p)
	return len(p), nil
}

func TestFeedDestinationFails(t *testing.T) {
	for _, name := range strategy.FeedNames {
		h := wire.Header{Mode: wire.Framed, Producers: 16, Messages: 5000, Size: 32, Label: name}
		f, err := strategy.OpenFeed(name, &failAfter{n: 1000}, h)
		if err != nil {
			t.Fatal(err)
		}
		sendAll(f, h) // returns: every producer learns of the failure
		if err := f.Close(); !errors.Is(err, errSinkBroke) {
			t.Errorf("%s: Close = %v, want %v", name, err, errSinkBroke)
		}
	}
}

func TestUnboundedStrategy(t *testing.T) {
	for _, mode := range []wire.Mode{wire.Byte, wire.Framed} {
		h := wire.Header{Mode: mode, Producers: 16, Messages: 500, Size: 1, Label: "unbounded"}
		if mode == wire.Framed {
			h.Size = 32
		}
		v := wire.NewVerifier(h)
		run, err := strategy.Unbounded{}.Prepare(v, h)
		if err != nil {
			t.Fatal(err)
		}
		run.Start()
		if err := run.Wait(); err != nil {
			t.Fatal(err)
		}
		if err := v.Verdict().Err(); err != nil {
			t.Errorf("%v: %v", mode, err)
		}
	}
	if _, ok := strategy.Bound("unbounded", wire.Header{}); ok {
		t.Error("the unbounded design reports a bound")
	}
	if slices.ContainsFunc(strategy.All(), func(s strategy.Strategy) bool { return s.Name() == "unbounded" }) {
		t.Error("unbounded is in the matrix")
	}
}

func TestIdleScenario(t *testing.T) {
	got, err := RunScenarios(t.Context(), []string{ScenarioIdle}, ScenarioConfig{Duration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Idle) != len(idleSubjects) || got.Overload != nil || got.Latency != nil {
		t.Fatalf("got %d idle results (want %d), overload %v, latency %v", len(got.Idle), len(idleSubjects), got.Overload, got.Latency)
	}
	for _, r := range got.Idle {
		// A parked consumer uses ~0.02%; 25% only catches spinning or
		// polling, with room for a loaded machine.
		if r.Seconds < 0.19 || r.CPUPercent < 0 || r.CPUPercent > 25 {
			t.Errorf("%s: %.2f%% of a core over %.2f s", r.Subject, r.CPUPercent, r.Seconds)
		}
	}
}

// TestMeasureIdleSeesSpinning checks the instrument: a goroutine that spins
// during the window must show up.
func TestMeasureIdleSeesSpinning(t *testing.T) {
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		for !stop.Load() {
		}
	})
	r, err := measureIdle(t.Context(), "spinner", 200*time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if r.CPUPercent < 30 {
		t.Errorf("a spinning goroutine measured as %.1f%% of a core", r.CPUPercent)
	}
}

// TestOverloadScenario runs the bounded designs for a fixed time and the
// unbounded one until its heap has grown past a limit, so that neither
// assertion depends on how fast the (loaded, maybe -race) machine is.
func TestOverloadScenario(t *testing.T) {
	bounded := OverloadStrategies[:len(OverloadStrategies)-1]
	cfg := ScenarioConfig{Duration: 300 * time.Millisecond, OverloadProducers: 64, Strategies: bounded}
	got, err := RunScenarios(t.Context(), []string{ScenarioOverload}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	const limit = 32 << 20
	cfg.Strategies, cfg.Duration, cfg.HeapLimit = []string{"unbounded"}, time.Minute, limit
	more, err := RunScenarios(t.Context(), []string{ScenarioOverload}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	results := append(got.Overload, more.Overload...)

	var names []string
	var worst uint64
	for _, r := range results {
		names = append(names, r.Strategy)
		t.Logf("%-12s growth %9d B in %.2f s, sent %8d, sink %.0f B/s", r.Strategy, r.Growth, r.Seconds, r.Sent, r.SinkBytesPerSec)
		if !r.Verified || r.Sent == 0 || r.Sent != r.Delivered {
			t.Errorf("%s: verified %v, sent %d, delivered %d", r.Strategy, r.Verified, r.Sent, r.Delivered)
		}
		if r.PeakHeap < r.BaselineHeap || len(r.HeapSeries) == 0 {
			t.Errorf("%s: peak %d baseline %d, %d samples", r.Strategy, r.PeakHeap, r.BaselineHeap, len(r.HeapSeries))
		}
		// The sink is the bottleneck: it never takes more than its rate
		// (one chunk of slack), whoever is feeding it.
		if max := float64(DefaultSinkRate) + throttleChunk/r.Seconds; r.SinkBytesPerSec > max {
			t.Errorf("%s: sink took %.0f B/s, limit %d", r.Strategy, r.SinkBytesPerSec, DefaultSinkRate)
		}
		if r.Strategy == "unbounded" {
			continue
		}
		worst = max(worst, r.Growth)
		// A 1 MiB bound, plus garbage up to the GC's 4 MiB minimum heap and
		// the lanes' chunks: 16 MiB would mean the bound does not hold.
		if r.HeapLimitHit || r.Growth > 16<<20 || r.Seconds < 0.29 {
			t.Errorf("%s: grew %d bytes in %.2f s (heap limit hit: %v)", r.Strategy, r.Growth, r.Seconds, r.HeapLimitHit)
		}
	}
	if want := append(slices.Clone(bounded), "unbounded"); !slices.Equal(names, want) {
		t.Fatalf("strategies %v, want %v", names, want)
	}
	if u := more.Overload[0]; !u.HeapLimitHit || u.Growth < limit || u.Growth < 2*worst {
		t.Errorf("unbounded: grew %d bytes in %.2f s (limit hit: %v); bounded designs at most %d",
			u.Growth, u.Seconds, u.HeapLimitHit, worst)
	}
}

// HeapProfiles: a heap profile of each overload design, taken while its
// fan-in holds its buffers, names the code that allocated them.
func TestOverloadHeapProfiles(t *testing.T) {
	defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
	runtime.MemProfileRate = 1
	prefix := filepath.Join(t.TempDir(), "heap")
	cfg := ScenarioConfig{Duration: 200 * time.Millisecond, OverloadProducers: 16,
		Strategies: []string{"fanin-lanes", "mutex-swap"}, HeapProfiles: prefix}
	if _, err := RunScenarios(t.Context(), []string{ScenarioOverload}, cfg); err != nil {
		t.Fatal(err)
	}
	for design, allocator := range map[string]string{
		"fanin-lanes": "newChunkLocked", // the lanes' chunks
		"mutex-swap":  "newSwapQueue",
	} {
		f, err := os.Open(prefix + "-" + design + ".pb.gz")
		if err != nil {
			t.Fatal(err)
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatalf("%s: %v", design, err)
		}
		data, err := io.ReadAll(zr)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", design, err)
		}
		if !bytes.Contains(data, []byte(allocator)) {
			t.Errorf("%s: the heap profile does not name %s", design, allocator)
		}
	}
}

func TestLatencyScenario(t *testing.T) {
	cfg := ScenarioConfig{Duration: 100 * time.Millisecond}
	got, err := RunScenarios(t.Context(), []string{ScenarioLatency}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range got.Latency {
		names = append(names, r.Strategy)
		// 16 producers at 625 msg/s each for 100 ms: 62 messages each.
		if !r.Verified || r.Messages != 16*62 || r.Producers != 16 {
			t.Errorf("%s: verified %v, %d messages from %d producers", r.Strategy, r.Verified, r.Messages, r.Producers)
		}
		if !(0 < r.P50Us && r.P50Us <= r.P99Us && r.P99Us <= r.MaxUs) {
			t.Errorf("%s: p50 %v p99 %v max %v", r.Strategy, r.P50Us, r.P99Us, r.MaxUs)
		}
		// Paced, not flat out: the rate is at most the configured one.
		if r.Rate > 1.2*DefaultLatencyRate {
			t.Errorf("%s: %.0f msg/s, configured %d", r.Strategy, r.Rate, DefaultLatencyRate)
		}
	}
	if !slices.Equal(names, LatencyStrategies) {
		t.Fatalf("strategies %v, want %v", names, LatencyStrategies)
	}
}

func TestScenarioOutput(t *testing.T) {
	s := Scenarios{
		Machine: "machine: test",
		Idle:    []IdleResult{{Subject: "fanin.Writer, flusher parked", Seconds: 3, CPUSeconds: 0.0006, CPUPercent: 0.02}},
		Overload: []OverloadResult{
			{Strategy: "fanin", Producers: 1024, Size: 64, SinkRate: 1e6, Seconds: 5, CapacityBytes: 1 << 20,
				PeakHeap: 3 << 20, Growth: 2 << 20, GrowthPerCapacity: 2, Verified: true},
			{Strategy: "unbounded", Producers: 1024, Size: 64, SinkRate: 1e6, Seconds: 2.1,
				PeakHeap: 600 << 20, Growth: 590 << 20, HeapLimitHit: true, Verified: true},
		},
	}
	var b strings.Builder
	if err := WriteScenarioTables(&b, s); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"machine: test", "target < 1%", "0.02%", "sink throttled to 1.0 MB/s",
		"3.0 MiB", "2.00", "none", "590.0 MiB *", "unbounded: stopped by the heap limit after 2.1 s"} {
		if !strings.Contains(out, want) {
			t.Errorf("tables lack %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "latency:") {
		t.Errorf("a latency table without latency results:\n%s", out)
	}

	dir := filepath.Join(t.TempDir(), "out")
	if err := WriteScenariosJSON(dir, s); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, ScenariosJSON))
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(data, &keys); err != nil {
		t.Fatal(err)
	}
	if _, ok := keys["latency"]; ok || keys["idle"] == nil || keys["overload"] == nil {
		t.Errorf("scenarios.json keys: %s", data)
	}
	var back Scenarios
	if err := json.Unmarshal(data, &back); err != nil || back.Overload[1].Growth != 590<<20 || !back.Overload[1].HeapLimitHit {
		t.Errorf("round trip: %+v, %v", back, err)
	}
}

// TestScenarioExtraDesigns checks that designs from outside
// internal/strategy run after the project's, under their own names and
// bounds, in both scenarios that take them.
func TestScenarioExtraDesigns(t *testing.T) {
	opened := map[string]int{}
	var mu sync.Mutex
	extra := ExtraDesign{
		Name: "outside",
		Open: func(dst io.Writer, h wire.Header) (strategy.Feeder, error) {
			mu.Lock()
			opened[h.Label]++
			mu.Unlock()
			return strategy.OpenFeed("chan-batch", dst, h)
		},
		Bound: func(h wire.Header) int64 { return 7 * int64(h.Size) },
	}
	cfg := ScenarioConfig{Duration: 100 * time.Millisecond, OverloadProducers: 4, SinkRate: 10_000_000,
		LatencyProducers: 2, LatencyRate: 1000, Strategies: []string{"fanin"}, Extra: []ExtraDesign{extra}}
	res, err := RunScenarios(t.Context(), []string{ScenarioOverload, ScenarioLatency}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Overload) != 2 || res.Overload[1].Strategy != "outside" || !res.Overload[1].Verified {
		t.Fatalf("overload results %+v", res.Overload)
	}
	if got, want := res.Overload[1].CapacityBytes, int64(7*DefaultFramedSize); got != want {
		t.Errorf("outside's capacity %d, want %d", got, want)
	}
	if len(res.Latency) != 2 || res.Latency[1].Strategy != "outside" || !res.Latency[1].Verified {
		t.Fatalf("latency results %+v", res.Latency)
	}
	if opened["outside"] != 2 {
		t.Errorf("outside opened %d times, want 2", opened["outside"])
	}
	var tables bytes.Buffer
	if err := WriteScenarioTables(&tables, res); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(tables.String(), "\noutside "); n != 2 {
		t.Errorf("tables list outside %d times, want 2:\n%s", n, tables.String())
	}
}

// The settled growth ignores the first second, when buffers grow and leave
// garbage, and takes the median of the rest.
func TestSettledGrowth(t *testing.T) {
	for _, c := range []struct {
		series   []uint64
		baseline uint64
		want     uint64
	}{
		{nil, 100, 0},
		{[]uint64{900}, 100, 800},      // one sample: it is all there is
		{[]uint64{900, 300}, 100, 200}, // the first is skipped
		{[]uint64{9000, 9000, 9000, 9000, 300, 500, 400}, 100, 300}, // median of 300, 400, 500, less 100
		{[]uint64{50, 50}, 100, 0},                                  // below the baseline: no growth
	} {
		if got := settledGrowth(c.series, c.baseline); got != c.want {
			t.Errorf("settledGrowth(%v, %d) = %d, want %d", c.series, c.baseline, got, c.want)
		}
	}
}
