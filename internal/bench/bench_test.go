package bench

import (
	"errors"
	"fmt"
	"io"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fanin-dev/fanin/internal/report"
	"github.com/fanin-dev/fanin/internal/strategy"
	"github.com/fanin-dev/fanin/internal/wire"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func lookup(t *testing.T, names ...string) []strategy.Strategy {
	t.Helper()
	var out []strategy.Strategy
	for _, n := range names {
		s, err := strategy.Lookup(n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

// checkResults asserts what every honest result must satisfy.
func checkResults(t *testing.T, rs []report.Result, cfg Config, wantSink string) {
	t.Helper()
	var want []string
	for _, p := range cfg.Producers {
		for _, s := range cfg.Strategies {
			want = append(want, s.Name()+"@"+strconv.Itoa(p))
		}
	}
	var got []string
	for _, r := range rs {
		got = append(got, r.Strategy+"@"+strconv.Itoa(r.Producers))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("cells = %v, want %v (producers outer, strategies inner)", got, want)
	}
	for _, r := range rs {
		if !r.Verified {
			t.Errorf("%s@%d not verified", r.Strategy, r.Producers)
		}
		if r.Runs < cfg.MinRuns || r.Runs > cfg.MaxRuns {
			t.Errorf("%s@%d: %d runs, want %d..%d", r.Strategy, r.Producers, r.Runs, cfg.MinRuns, cfg.MaxRuns)
		}
		if !(0 < r.NsPerMsgMin && r.NsPerMsgMin <= r.NsPerMsgMedian && r.NsPerMsgMedian <= r.NsPerMsgMax) {
			t.Errorf("%s@%d: ns/msg min %v median %v max %v", r.Strategy, r.Producers, r.NsPerMsgMin, r.NsPerMsgMedian, r.NsPerMsgMax)
		}
		wantMs := r.NsPerMsgMedian * float64(r.Producers*r.MessagesPerProducer) / 1e6
		if d := r.TotalMsMedian - wantMs; d > 1e-9 || d < -1e-9 {
			t.Errorf("%s@%d: total ms %v, want %v", r.Strategy, r.Producers, r.TotalMsMedian, wantMs)
		}
		if r.MessagesPerProducer != cfg.Messages || r.Mode != cfg.Mode.String() || r.Sink != wantSink {
			t.Errorf("%s@%d: workload fields %+v", r.Strategy, r.Producers, r)
		}
		if r.PeakHeapBytes == 0 {
			t.Errorf("%s@%d: no peak heap", r.Strategy, r.Producers)
		}
		if r.AllocsPerMsg < 0 {
			t.Errorf("%s@%d: allocs/msg %v", r.Strategy, r.Producers, r.AllocsPerMsg)
		}
		framed := cfg.Mode == wire.Framed
		if hasLat := r.LatencyP99Us > 0; hasLat != framed || (framed && r.LatencyP50Us > r.LatencyP99Us) {
			t.Errorf("%s@%d (%v): latency p50 %v p99 %v", r.Strategy, r.Producers, cfg.Mode, r.LatencyP50Us, r.LatencyP99Us)
		}
	}
}

func TestRunMatrix(t *testing.T) {
	for _, mode := range []wire.Mode{wire.Byte, wire.Framed} {
		for _, sinkKind := range []string{SinkMem, SinkTCP} {
			t.Run(mode.String()+"/"+sinkKind, func(t *testing.T) {
				cfg := Config{
					Strategies: lookup(t, "chan-serial", "mutex-swap"),
					Producers:  []int{1, 8},
					Messages:   50,
					Mode:       mode,
					Sink:       sinkKind,
					MinTime:    time.Millisecond,
					MinRuns:    2,
					MaxRuns:    4,
				}
				var progress []Progress
				cfg.Progress = func(p Progress) { progress = append(progress, p) }
				rs, err := Run(t.Context(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				checkResults(t, rs, cfg, sinkKind)
				if mode == wire.Framed && rs[0].MessageSize != DefaultFramedSize {
					t.Errorf("framed size %d, want default %d", rs[0].MessageSize, DefaultFramedSize)
				}

				// A start and an end report per cell, in order.
				if len(progress) != 2*len(rs) {
					t.Fatalf("%d progress reports for %d cells", len(progress), len(rs))
				}
				for i, p := range progress {
					cell := i / 2
					wantDone := cell + i%2
					if p.Total != len(rs) || p.Done != wantDone || p.Strategy != rs[cell].Strategy || p.Producers != rs[cell].Producers {
						t.Errorf("progress %d = %+v", i, p)
					}
					if (i%2 == 1) != (p.Result != nil) {
						t.Errorf("progress %d: result %v", i, p.Result)
					}
				}
				if last := progress[len(progress)-1]; last.ETA != 0 {
					t.Errorf("ETA after the last cell = %v", last.ETA)
				}
			})
		}
	}
}

// fake is a contestant that writes every message itself (no goroutines),
// optionally corrupting them and/or taking a scripted time per run.
type fake struct {
	name      string
	corrupt   bool
	repeat    bool            // write the stream again and again until a write fails
	durations []time.Duration // per run, consumed in order (the last one repeats)
	prepErr   error
	runs      int
	log       *[]string // if set, each Prepare appends the name
}

func (f *fake) Name() string { return f.name }

func (f *fake) Prepare(dst io.Writer, h wire.Header) (strategy.Run, error) {
	if f.prepErr != nil {
		return nil, f.prepErr
	}
	var d time.Duration
	if len(f.durations) > 0 {
		d = f.durations[min(f.runs, len(f.durations)-1)]
	}
	f.runs++
	if f.log != nil {
		*f.log = append(*f.log, f.name)
	}
	return &fakeRun{f: f, dst: dst, h: h, d: d}, nil
}

type fakeRun struct {
	f   *fake
	dst io.Writer
	h   wire.Header
	d   time.Duration
}

func (r *fakeRun) Start() {}

func (r *fakeRun) Wait() error {
	time.Sleep(r.d)
	var buf []byte
	for p := range r.h.Producers {
		for seq := range r.h.Messages {
			buf = wire.AppendMessage(buf, r.h, p, seq)
		}
	}
	if r.f.corrupt {
		// Right length, wrong content: the sink must notice without waiting
		// for bytes that will never come.
		for i := range buf {
			buf[i] = 7
		}
	}
	if !r.f.repeat {
		_, err := r.dst.Write(buf)
		return err
	}
	for range 10000 {
		if _, err := r.dst.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

func TestUnverifiedRunFails(t *testing.T) {
	for _, sinkKind := range []string{SinkMem, SinkTCP} {
		t.Run(sinkKind, func(t *testing.T) {
			good := lookup(t, "mutex-swap")[0]
			bad := &fake{name: "liar", corrupt: true}
			rs, err := Run(t.Context(), Config{
				Strategies: []strategy.Strategy{good, bad},
				Producers:  []int{4},
				Messages:   50,
				Sink:       sinkKind,
				MinTime:    time.Millisecond,
			})
			var ve *VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v, want a *VerifyError", err)
			}
			if ve.Strategy != "liar" || ve.Producers != 4 || ve.Run != 1 || ve.Verdict.OK || len(ve.Verdict.Errors) == 0 {
				t.Errorf("VerifyError = %+v", ve)
			}
			if !strings.Contains(err.Error(), "liar") || !strings.Contains(err.Error(), ve.Verdict.Errors[0]) {
				t.Errorf("error %q should name the contestant and the sink's complaint", err)
			}
			if len(rs) != 1 || rs[0].Strategy != "mutex-swap" || !rs[0].Verified {
				t.Errorf("results before the failure = %+v", rs)
			}
		})
	}
}

func TestDuplicatingRunFails(t *testing.T) {
	for _, sinkKind := range []string{SinkMem, SinkTCP} {
		t.Run(sinkKind, func(t *testing.T) {
			_, err := Run(t.Context(), Config{
				Strategies: []strategy.Strategy{&fake{name: "echoer", repeat: true}},
				Producers:  []int{2},
				Messages:   100,
				Sink:       sinkKind,
			})
			if err == nil || !strings.Contains(err.Error(), "echoer") {
				t.Fatalf("err = %v, want a failure naming the contestant", err)
			}
			var ve *VerifyError
			if sinkKind == SinkMem && (!errors.As(err, &ve) || !strings.Contains(err.Error(), "extra bytes")) {
				t.Errorf("mem sink: err = %v, want a VerifyError about extra bytes", err)
			}
		})
	}
}

func TestHungRunFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, err := Run(t.Context(), Config{
			Strategies: []strategy.Strategy{&fake{name: "sloth", durations: []time.Duration{time.Hour}}},
			Producers:  []int{1},
			Messages:   10,
			Sink:       SinkMem,
			RunTimeout: time.Second,
		})
		if !errors.Is(err, errHung) || !strings.Contains(err.Error(), "sloth") {
			t.Fatalf("err = %v, want errHung naming the contestant", err)
		}
		// The abandoned run is still in Wait; let it finish in the bubble's
		// time so that no goroutine outlives the test.
		time.Sleep(time.Hour)
		synctest.Wait()
	})
}

// A TCP run stops the clock when the in-process sink counted the last byte,
// by the sink's record in the verdict, not when the verdict arrived; an
// external sink's record, a missing one, or one outside the run falls back
// to the arrival.
func TestStopClock(t *testing.T) {
	start := time.Now()
	counted := start.Add(3 * time.Millisecond)
	arrived := start.Add(4 * time.Millisecond)
	for _, c := range []struct {
		name    string
		addr    string
		counted int64
		want    time.Time
	}{
		{"in-process", "", counted.UnixNano(), counted},
		{"external sink", "127.0.0.1:8080", counted.UnixNano(), arrived},
		{"no record", "", 0, arrived},
		{"before the start", "", start.Add(-time.Millisecond).UnixNano(), arrived},
		{"after the arrival", "", arrived.Add(time.Millisecond).UnixNano(), arrived},
	} {
		b := &bencher{cfg: Config{Addr: c.addr}}
		got := b.stopClock(start, arrived, wire.Verdict{CompletedUnixNs: c.counted})
		if got.Sub(start) != c.want.Sub(start) {
			t.Errorf("%s: clock stopped after %v, want %v", c.name, got.Sub(start), c.want.Sub(start))
		}
	}
}

func TestRunTimeout(t *testing.T) {
	h := wire.Header{Mode: wire.Byte, Producers: 8192, Messages: 1000, Size: 1}
	if got, want := (Config{}).runTimeout(h), time.Minute+8192*1000*20*time.Microsecond; got != want {
		t.Errorf("automatic timeout = %v, want %v", got, want)
	}
	if got := (Config{RunTimeout: -1}).runTimeout(h); got >= 0 {
		t.Errorf("disabled timeout = %v", got)
	}
}

func TestPrepareErrorFails(t *testing.T) {
	boom := errors.New("boom")
	_, err := Run(t.Context(), Config{
		Strategies: []strategy.Strategy{&fake{name: "broken", prepErr: boom}},
		Producers:  []int{1},
		Messages:   10,
		Sink:       SinkMem,
	})
	var ve *VerifyError
	if !errors.Is(err, boom) || errors.As(err, &ve) {
		t.Fatalf("err = %v, want the Prepare error (not a VerifyError)", err)
	}
}

// TestPrepareLabelsGoroutines: the goroutines a contestant starts carry its
// pprof labels, which is what lets -tagfocus cut a profile down to them.
func TestPrepareLabelsGoroutines(t *testing.T) {
	s := lookup(t, "fanin-lanes")[0]
	h := wire.Header{Mode: wire.Byte, Producers: 3, Messages: 10, Size: 1, Label: s.Name()}
	v := wire.NewVerifier(h)
	run, err := prepare(t.Context(), s, v, h)
	if err != nil {
		t.Fatal(err)
	}
	var profile strings.Builder
	if err := pprof.Lookup("goroutine").WriteTo(&profile, 1); err != nil {
		t.Fatal(err)
	}
	if err := run.Wait(); err != nil {
		t.Fatal(err)
	}
	if vd := v.Verdict(); !vd.OK {
		t.Fatalf("unverified run: %v", vd.Err())
	}
	// debug=1 groups goroutines by stack: the 3 parked producers are one entry.
	want := `# labels: {"cell":"fanin-lanes/3", "contestant":"fanin-lanes"}`
	if !strings.Contains(profile.String(), want) {
		t.Errorf("goroutine profile has no %s:\n%s", want, profile.String())
	}
}

func TestRepeatRule(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name       string
		durations  []time.Duration
		wantRuns   int
		wantSingle bool
		min, med   time.Duration
		max        time.Duration
	}{
		{"until min time", []time.Duration{10 * ms}, 20, false, 10 * ms, 10 * ms, 10 * ms},
		{"min runs", []time.Duration{300 * ms, 100 * ms, 200 * ms}, 3, false, 100 * ms, 200 * ms, 300 * ms},
		{"capped", []time.Duration{ms}, 25, false, ms, ms, ms},
		{"even median", []time.Duration{150 * ms, 40 * ms, 5 * ms, 20 * ms}, 4, false, 5 * ms, 30 * ms, 150 * ms},
		{"long first run", []time.Duration{3 * time.Second}, 1, true, 3 * time.Second, 3 * time.Second, 3 * time.Second},
		{"long later run", []time.Duration{900 * ms, 3 * time.Second}, 3, false, 900 * ms, 3 * time.Second, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &fake{name: "sleeper", durations: tt.durations}
				const producers, messages = 2, 5
				rs, err := Run(t.Context(), Config{
					Strategies: []strategy.Strategy{f},
					Producers:  []int{producers},
					Messages:   messages,
					Sink:       SinkMem,
					MinTime:    200 * ms,
					MinRuns:    3,
					MaxRuns:    25,
					LongRun:    time.Second,
				})
				if err != nil {
					t.Fatal(err)
				}
				r := rs[0]
				perMsg := func(d time.Duration) float64 { return float64(d) / (producers * messages) }
				if r.Runs != tt.wantRuns || r.Single != tt.wantSingle || f.runs != tt.wantRuns {
					t.Errorf("runs %d (prepared %d) single %v, want %d single %v", r.Runs, f.runs, r.Single, tt.wantRuns, tt.wantSingle)
				}
				if r.NsPerMsgMin != perMsg(tt.min) || r.NsPerMsgMedian != perMsg(tt.med) || r.NsPerMsgMax != perMsg(tt.max) {
					t.Errorf("ns/msg min/median/max = %v/%v/%v, want %v/%v/%v",
						r.NsPerMsgMin, r.NsPerMsgMedian, r.NsPerMsgMax, perMsg(tt.min), perMsg(tt.med), perMsg(tt.max))
				}
				if want := float64(tt.med) / 1e6; r.TotalMsMedian != want {
					t.Errorf("total ms median = %v, want %v", r.TotalMsMedian, want)
				}
				if tt.wantSingle != (r.Note != "") {
					t.Errorf("note %q", r.Note)
				}
			})
		})
	}
}

// With Interleave a row's contestants take turns, one run each, until each
// has met the repeat rule; without it each cell runs all its runs in a row.
// Either way the results come in the matrix's order.
func TestInterleave(t *testing.T) {
	ms := time.Millisecond
	for _, interleave := range []bool{false, true} {
		t.Run(fmt.Sprintf("interleave=%v", interleave), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var order []string
				slow := &fake{name: "slow", durations: []time.Duration{30 * ms}, log: &order} // 7 runs to 200 ms
				fast := &fake{name: "fast", durations: []time.Duration{10 * ms}, log: &order} // 20 runs
				rs, err := Run(t.Context(), Config{
					Strategies: []strategy.Strategy{slow, fast},
					Producers:  []int{2, 4},
					Messages:   5,
					Sink:       SinkMem,
					MinTime:    200 * ms,
					MinRuns:    3,
					MaxRuns:    25,
					LongRun:    time.Second,
					Interleave: interleave,
				})
				if err != nil {
					t.Fatal(err)
				}
				var cells []string
				for _, r := range rs {
					cells = append(cells, fmt.Sprintf("%s/%d:%d", r.Strategy, r.Producers, r.Runs))
				}
				if want := []string{"slow/2:7", "fast/2:20", "slow/4:7", "fast/4:20"}; !slices.Equal(cells, want) {
					t.Errorf("cells %v, want %v", cells, want)
				}
				var row []string
				if interleave {
					for range 7 {
						row = append(row, "slow", "fast")
					}
					for range 13 {
						row = append(row, "fast")
					}
				} else {
					for range 7 {
						row = append(row, "slow")
					}
					for range 20 {
						row = append(row, "fast")
					}
				}
				if want := slices.Concat(row, row); !slices.Equal(order, want) {
					t.Errorf("runs in the order %v, want %v", order, want)
				}
			})
		})
	}
}

func TestETA(t *testing.T) {
	b := &bencher{
		cfg:         Config{Messages: 1000, MinTime: 200 * time.Millisecond, MinRuns: 3, MaxRuns: 25, LongRun: time.Second},
		nsPerMsg:    map[string]float64{"slow": 1000, "fast": 10},
		overheadSum: 10 * time.Millisecond,
		overheadN:   10, // 1 ms per run
	}
	tests := []struct {
		cell cellKey
		want time.Duration
	}{
		{cellKey{"slow", 8192}, 8192*time.Millisecond + time.Millisecond},    // long: once
		{cellKey{"slow", 16}, 13 * (16*time.Millisecond + time.Millisecond)}, // ceil(200/16) runs
		{cellKey{"slow", 1}, 25 * (time.Millisecond + time.Millisecond)},     // 200 needed, capped at 25
		{cellKey{"fast", 64}, 25 * (640*time.Microsecond + time.Millisecond)},
		{cellKey{"fast", 100000}, 1000*time.Millisecond + time.Millisecond},
		{cellKey{"new", 1000}, 3 * (505*time.Millisecond + time.Millisecond)}, // mean of known costs
	}
	for _, tt := range tests {
		if got := b.eta([]cellKey{tt.cell}); got != tt.want {
			t.Errorf("eta(%v) = %v, want %v", tt.cell, got, tt.want)
		}
	}
	if got := b.eta(nil); got != 0 {
		t.Errorf("eta(nothing left) = %v", got)
	}
}

func TestConfigErrors(t *testing.T) {
	one := lookup(t, "direct")
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"unknown sink", Config{Strategies: one, Sink: "udp"}, "unknown sink"},
		{"addr with mem", Config{Strategies: one, Sink: SinkMem, Addr: "127.0.0.1:1"}, "tcp sink"},
		{"runs", Config{Strategies: one, MinRuns: 5, MaxRuns: 2}, "min runs"},
		{"no producers", Config{Strategies: one, Producers: []int{}}, "no producer"},
		{"zero producers", Config{Strategies: one, Producers: []int{0}}, "producers"},
		{"framed too small", Config{Strategies: one, Mode: wire.Framed, Size: 4}, "size"},
		{"byte size", Config{Strategies: one, Size: 2}, "size"},
		{"no strategies", Config{Strategies: []strategy.Strategy{}}, "no strategies"},
		{"producers twice", Config{Strategies: one, Producers: []int{4, 1, 4}}, "twice"},
		{"twice", Config{Strategies: lookup(t, "direct", "direct")}, "twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Run(t.Context(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want one mentioning %q", err, tt.want)
			}
		})
	}
}

func TestParseProducers(t *testing.T) {
	got, err := ParseProducers(" 1, 4,16 ,8192,")
	if err != nil || !slices.Equal(got, []int{1, 4, 16, 8192}) {
		t.Errorf("ParseProducers = %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "-1", "x", "1,,y", "2.5"} {
		if _, err := ParseProducers(bad); err == nil {
			t.Errorf("ParseProducers(%q): no error", bad)
		}
	}
}

func TestParseStrategies(t *testing.T) {
	all, err := ParseStrategies("all")
	if err != nil || len(all) != len(strategy.All()) {
		t.Fatalf("all: %v, %v", all, err)
	}
	two, err := ParseStrategies("direct, chan-serial,direct")
	if err != nil || len(two) != 2 || two[0].Name() != "direct" || two[1].Name() != "chan-serial" {
		t.Errorf("subset: %v, %v", two, err)
	}
	if _, err := ParseStrategies("direct,nope"); err == nil || !strings.Contains(err.Error(), "chan-serial") {
		t.Errorf("unknown name: err = %v, want one listing the valid names", err)
	}
}
