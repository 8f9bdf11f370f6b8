package strategy

import (
	"errors"
	"io"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fanin-dev/fanin/internal/wire"
)

var errBoom = errors.New("boom: destination failed")

func TestPreparedRunsWaitForStart(t *testing.T) {
	for _, s := range All() {
		t.Run(s.Name(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := header(wire.Framed, 16, 100)
				rec := newRecorder(h)
				before := runtime.NumGoroutine()
				r, err := s.Prepare(rec, h)
				if err != nil {
					t.Fatal(err)
				}
				started := runtime.NumGoroutine() - before
				// Everything Prepare started is now blocked for good: if
				// anything could still produce or write, it would have.
				synctest.Wait()
				if rec.writes != 0 {
					t.Fatalf("%d writes before Start", rec.writes)
				}
				if started < 1 {
					t.Errorf("Prepare started no goroutine: the consumer would be created in the timed region")
				}
				r.Start()
				if err := r.Wait(); err != nil {
					t.Fatal(err)
				}
				if v := rec.v.Verdict(); !v.OK {
					t.Fatal(v.Err())
				}
			})
		})
	}
}

// A consumer starts when it is launched and waits for messages before the
// producers are released, as a long-lived one does when a burst begins; one
// that spins while it waits (SpinningConsumer), or makes the messages itself
// (no producers), waits at the start gate instead.
func TestLaunchStartsTheConsumer(t *testing.T) {
	for _, c := range []struct {
		name      string
		producers int
		spins     bool
		early     bool // the consumer runs before Start
	}{
		{"waits for messages", 2, false, true},
		{"spins", 2, true, false},
		{"no producers", 0, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := header(wire.Byte, max(c.producers, 1), 10)
				r, err := NewHarness("test", io.Discard, h)
				if err != nil {
					t.Fatal(err)
				}
				if c.spins {
					r.SpinningConsumer()
				}
				var consumed atomic.Bool
				messages := make(chan []byte, c.producers*10)
				r.Launch(c.producers,
					func(int) SendFunc { return func(m []byte) bool { messages <- m; return true } },
					func() { close(messages) },
					func() {
						consumed.Store(true)
						if c.producers == 0 {
							return
						}
						for range messages {
						}
					})
				synctest.Wait() // every goroutine of the run is blocked for good
				if consumed.Load() != c.early {
					t.Errorf("consumer ran before Start: %v, want %v", consumed.Load(), c.early)
				}
				r.Start()
				if err := r.Wait(); err != nil {
					t.Fatal(err)
				}
				if !consumed.Load() {
					t.Error("the consumer never ran")
				}
			})
		})
	}
}

// Prepare must return only once every goroutine it started has run up to
// the start gate, so that creating and first scheduling them stays outside
// the timed region. A goroutine dump shows which ones have started: one
// that never ran has no frame of ours yet.
func TestPrepareReturnsWithEveryGoroutineAtTheGate(t *testing.T) {
	for _, s := range ours() {
		t.Run(s.Name(), func(t *testing.T) {
			h := header(wire.Byte, 50, 10)
			want := h.Producers + 1
			if s.Name() == "direct" {
				want = 1
			}
			r, err := s.Prepare(newRecorder(h), h)
			if err != nil {
				t.Fatal(err)
			}
			if got := startedHarnessGoroutines(); got != want {
				t.Errorf("%d goroutines had reached the start gate when Prepare returned, want %d", got, want)
			}
			r.Start()
			if err := r.Wait(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// startedHarnessGoroutines counts the goroutines running (or parked in) a
// harness producer or consumer body.
func startedHarnessGoroutines() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "internal/strategy.(*Harness).produce(") ||
			strings.Contains(g, "internal/strategy.(*Harness).Launch.func") {
			count++
		}
	}
	return count
}

// gateWriter blocks every Write until gate is closed, then fails it.
type gateWriter struct {
	gate   chan struct{}
	writes int
}

func (w *gateWriter) Write(p []byte) (int, error) {
	<-w.gate
	w.writes++
	return 0, errBoom
}

// A destination that fails while every producer is blocked on the full
// queue: the failure must release them all (synctest panics on the deadlock
// otherwise, and on any goroutine left behind).
func TestFailureReleasesBlockedProducers(t *testing.T) {
	for _, s := range All() {
		t.Run(s.Name(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := header(wire.Framed, 64, 1<<20)
				w := &gateWriter{gate: make(chan struct{})}
				r, err := s.Prepare(w, h)
				if refusedWhole(t, s, err) {
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				r.Start()
				synctest.Wait() // queue full, producers and consumer blocked
				close(w.gate)
				err = r.Wait()
				if !errors.Is(err, errBoom) {
					t.Fatalf("Wait() = %v, want %v", err, errBoom)
				}
				if w.writes != 1 {
					t.Errorf("%d writes; want none after the failed one", w.writes)
				}
			})
		})
	}
}

// failAfter accepts limit bytes, then fails (the failing write is partial).
type failAfter struct {
	limit       int64
	n           int64
	failed      bool
	writesAfter int
}

func (w *failAfter) Write(p []byte) (int, error) {
	if w.failed {
		w.writesAfter++
		return 0, errBoom
	}
	if room := w.limit - w.n; int64(len(p)) > room {
		w.n, w.failed = w.limit, true
		return int(room), errBoom
	}
	w.n += int64(len(p))
	return len(p), nil
}

// A failure in the middle of a workload far too large to finish in the
// test's time: Wait must return the error promptly, so the producers must
// have stopped rather than run to the end.
func TestFailureMidStreamStopsPromptly(t *testing.T) {
	for _, s := range All() {
		for _, mode := range []wire.Mode{wire.Byte, wire.Framed} {
			t.Run(s.Name()+"/"+mode.String(), func(t *testing.T) {
				h := header(mode, 64, 1<<24) // 2^30 messages
				w := &failAfter{limit: 100_000}
				r, err := s.Prepare(w, h)
				if refusedWhole(t, s, err) {
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				begin := time.Now()
				r.Start()
				// The workload would take minutes: returning within the
				// guard means the producers stopped.
				err = waitGuarded(t, r, w)
				if !errors.Is(err, errBoom) {
					t.Fatalf("Wait() = %v, want %v", err, errBoom)
				}
				if w.writesAfter != 0 {
					t.Errorf("%d writes after the failed one", w.writesAfter)
				}
				t.Logf("stopped %v after Start", time.Since(begin))
			})
		}
	}
}

// shortWriter violates nothing in io.Writer's contract when it returns an
// error with a short count, but a broken writer may return a short count
// and no error: that must not pass for success.
type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) - 1, nil }

func TestShortWriteIsAnError(t *testing.T) {
	for _, s := range ours() {
		t.Run(s.Name(), func(t *testing.T) {
			h := header(wire.Byte, 4, 100)
			r, err := s.Prepare(shortWriter{}, h)
			if err != nil {
				t.Fatal(err)
			}
			r.Start()
			if err := r.Wait(); !errors.Is(err, io.ErrShortWrite) {
				t.Errorf("Wait() = %v, want io.ErrShortWrite", err)
			}
		})
	}
}

// countWriter counts bytes and nothing else, so that allocations measured
// around a run are the contestant's own.
type countWriter struct{ n atomic.Int64 }

func (w *countWriter) Write(p []byte) (int, error) {
	w.n.Add(int64(len(p)))
	return len(p), nil
}

func TestByteModeDoesNotAllocatePerMessage(t *testing.T) {
	for _, s := range All() {
		t.Run(s.Name(), func(t *testing.T) {
			h := header(wire.Byte, 8, 20_000)
			w := &countWriter{}
			r, err := s.Prepare(w, h)
			if err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			r.Start()
			if err := r.Wait(); err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&after)
			if w.n.Load() != h.TotalBytes() {
				t.Fatalf("wrote %d bytes, want %d", w.n.Load(), h.TotalBytes())
			}
			allocs := after.Mallocs - before.Mallocs
			t.Logf("%d allocations for %d messages", allocs, h.TotalMessages())
			if allocs > uint64(h.TotalMessages()/100) {
				t.Errorf("%d allocations for %d byte messages: allocating per message", allocs, h.TotalMessages())
			}
		})
	}
}

// stallFirst holds the first Write until gate is closed, then passes
// everything to rec.
type stallFirst struct {
	gate chan struct{}
	rec  *recorder
}

func (w *stallFirst) Write(p []byte) (int, error) {
	if w.rec.writes == 0 {
		<-w.gate
	}
	return w.rec.Write(p)
}

// While the destination stalls, producers must end up waiting rather than
// queueing without bound: the writes after the stall show how much piled up.
func TestBoundedWhileDestinationStalls(t *testing.T) {
	for _, s := range All() {
		t.Run(s.Name(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := wire.Header{Mode: wire.Framed, Producers: 8, Messages: 512, Size: 1024} // 4 MiB
				w := &stallFirst{gate: make(chan struct{}), rec: newRecorder(h)}
				r, err := s.Prepare(w, h)
				if err != nil {
					t.Fatal(err)
				}
				r.Start()
				synctest.Wait() // every producer is waiting for room
				close(w.gate)
				if err := r.Wait(); err != nil {
					t.Fatal(err)
				}
				if v := w.rec.v.Verdict(); !v.OK {
					t.Fatal(v.Err())
				}
				checkWriteShape(t, s.Name(), h, w.rec)
			})
		})
	}
}

// refusedWhole reports whether s is one of the floors that buffer the whole
// workload (Private, PolledLanes), which must refuse one too large, and
// fails the test if it did not.
func refusedWhole(t *testing.T, s Strategy, err error) bool {
	t.Helper()
	switch s.(type) {
	case Private, PolledLanes:
	default:
		return false
	}
	if !errors.Is(err, ErrWorkloadTooLarge) {
		t.Fatalf("Prepare() = %v, want ErrWorkloadTooLarge", err)
	}
	return true
}
