package fanin

import (
	"bytes"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// stampedWriter records each write and the (bubble's) time it began, and
// holds every write until the test lets it through, so that the test decides
// what the flusher finds waiting when it drains next.
type stampedWriter struct {
	mu     sync.Mutex
	writes []string
	at     []time.Time
	gate   chan struct{}
	open   sync.Once
}

// release lets every write through from now on.
func (s *stampedWriter) release() { s.open.Do(func() { close(s.gate) }) }

func (s *stampedWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	s.writes = append(s.writes, string(p))
	s.at = append(s.at, time.Now())
	s.mu.Unlock()
	<-s.gate
	return len(p), nil
}

func (s *stampedWriter) log() ([]string, []time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.writes...), append([]time.Time(nil), s.at...)
}

// newGather starts a Writer on a stampedWriter, with one lane, and closes
// all three when the test ends.
func newGather(t *testing.T) (*stampedWriter, *Writer, *Lane) {
	dst := &stampedWriter{gate: make(chan struct{})}
	w := NewWriter(dst)
	l := w.Lane()
	synctest.Wait() // the flusher has parked: the first message is not found waiting
	t.Cleanup(func() {
		dst.release()
		l.Close()
		if err := w.Close(); err != nil {
			t.Error(err)
		}
	})
	return dst, w, l
}

// keepBusy makes the flusher find a message waiting on gatherAfter drains in
// a row: each message is written with write (a Lane's or the Writer's) while
// the flusher is held in the previous write. It returns once the flusher has
// gone through its next drain: with the message after "a" and the first
// gatherAfter-1 written, and the last one gathering, spinning or written.
func keepBusy(t *testing.T, dst *stampedWriter, write func([]byte) (int, error)) {
	t.Helper()
	write([]byte("a"))
	synctest.Wait() // the flusher parked for "a", drained it and is writing it
	for i := range gatherAfter {
		write([]byte{'b' + byte(i)})
		dst.gate <- struct{}{} // the previous write returns
		synctest.Wait()
	}
	if got, _ := dst.log(); len(got) < gatherAfter {
		t.Fatalf("writes %q before the gather, want %d", got, gatherAfter)
	}
}

// withoutIdleWaker makes w's gathers ignore idleness, as if the idle waker
// had always been kicked already: only the timer, the lanes and a hurry end
// them. In a bubble nothing else runs while a gather waits, so the idle
// waker would end every gather at once.
func withoutIdleWaker(w *Writer) {
	w.q.mu.Lock()
	w.q.idleKicked = true
	w.q.mu.Unlock()
}

// A flusher kept busy by lanes waits for more before writing a small batch,
// but never longer than gatherDelay; and a gather that timed out is not
// repeated on the next drain, even if that drain finds a message waiting.
func TestWriterLanesGatherWhenBusy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dst, w, l := newGather(t)
		withoutIdleWaker(w)
		keepBusy(t, dst, l.Write)
		start := time.Now()
		time.Sleep(gatherDelay)
		synctest.Wait() // the flusher is writing "d"
		l.Write([]byte("e"))
		dst.release()
		synctest.Wait()
		writes, at := dst.log()
		if want := []string{"a", "b", "c", "d", "e"}; !slices.Equal(writes, want) {
			t.Fatalf("writes %q, want %q", writes, want)
		}
		if got := at[3].Sub(start); got != gatherDelay {
			t.Errorf("gathered batch written after %v, want gatherDelay (%v)", got, gatherDelay)
		}
		if got := at[4].Sub(start); got != gatherDelay {
			t.Errorf("next batch written after %v, want at once (%v)", got, gatherDelay)
		}
	})
}

// A gather ends as soon as the lanes hold gatherBytes, when a writer waits
// for room that is running short, and on Flush and Close.
func TestWriterGatherEnds(t *testing.T) {
	for _, tc := range []struct {
		name string
		end  func(w *Writer, l *Lane)
	}{
		{"lanes hold enough", func(w *Writer, _ *Lane) {
			// The flusher counts the chunks lanes add, and a new lane
			// starts with one: a chunk more than gatherBytes is enough.
			other := w.Lane()
			msg := bytes.Repeat([]byte{'x'}, 64)
			for range (gatherBytes + w.q.maxChunk) / len(msg) {
				other.Write(msg)
			}
			other.Close()
		}},
		{"the queue runs short", func(w *Writer, _ *Lane) {
			w.Write(make([]byte, 800<<10)) // of 1 MiB: not yet short
			go w.Write(make([]byte, 300<<10))
		}},
		{"Flush", func(w *Writer, _ *Lane) { go w.Flush() }},
		{"Close", func(w *Writer, l *Lane) {
			l.Close()
			go w.Close()
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				dst, w, l := newGather(t)
				withoutIdleWaker(w)
				keepBusy(t, dst, l.Write)
				start := time.Now()
				dst.release()
				tc.end(w, l)
				synctest.Wait()
				writes, at := dst.log()
				if len(writes) <= gatherAfter || at[gatherAfter] != start {
					t.Fatalf("writes %q at %v: want the gathered batch written at once", writes, at)
				}
			})
		})
	}
}

// A gather ends as soon as nothing else is ready to run: the end of a burst
// is written at once, not after gatherDelay (which, below a millisecond,
// takes a millisecond in an idle process).
func TestWriterGatherEndsWhenIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dst, _, l := newGather(t)
		start := time.Now()
		keepBusy(t, dst, l.Write)
		writes, at := dst.log()
		if want := []string{"a", "b", "c", "d"}; !slices.Equal(writes, want) || at[3] != start {
			t.Fatalf("writes %q at %v, want %q with the last at once", writes, at, want)
		}
	})
}

// Messages that come one at a time are written at once: the flusher parks
// between them, so it never gathers, from lanes or on the shared path.
func TestWriterSparseMessagesDoNotWait(t *testing.T) {
	for _, path := range []string{"lane", "shared"} {
		t.Run(path, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				dst, w, l := newGather(t)
				onSpin(w, func() { t.Error("the flusher spun") })
				dst.release()
				write := l.Write
				if path == "shared" {
					write = w.Write
				}
				start := time.Now()
				for i := range 10 {
					write([]byte{byte('0' + i)})
					time.Sleep(time.Millisecond)
				}
				_, at := dst.log()
				for i, a := range at {
					if want := time.Duration(i) * time.Millisecond; a.Sub(start) != want {
						t.Errorf("message %d written after %v, want %v", i, a.Sub(start), want)
					}
				}
			})
		})
	}
}

// onSpin makes w's flusher call f each time it starts to spin.
func onSpin(w *Writer, f func()) {
	w.q.mu.Lock()
	w.q.onSpin = f
	w.q.mu.Unlock()
}

// A flusher kept busy on the shared path lets a small batch grow before it
// takes it: a message written while it spins joins the batch. Only there: a
// batch from lanes gathers instead (see TestWriterLanesGatherWhenBusy).
func TestWriterSharedPathSpinsWhenBusy(t *testing.T) {
	if !multiProcessor {
		t.Skip("the flusher spins only on more than one processor")
	}
	for _, path := range []string{"shared", "lane"} {
		t.Run(path, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				dst, w, l := newGather(t)
				withoutIdleWaker(w)
				var spins atomic.Int32
				onSpin(w, func() {
					spins.Add(1)
					w.Write([]byte("x"))
				})
				write, want, wantSpins := w.Write, []string{"a", "b", "c", "dx"}, int32(1)
				if path == "lane" {
					write, want, wantSpins = l.Write, []string{"a", "b", "c"}, 0
				}
				start := time.Now()
				keepBusy(t, dst, write)
				writes, at := dst.log()
				if !slices.Equal(writes, want) {
					t.Errorf("writes %q, want %q", writes, want)
				}
				if n := spins.Load(); n != wantSpins {
					t.Errorf("the flusher spun %d times, want %d", n, wantSpins)
				}
				// The spin ends by its count of clock readings where the
				// clock stands still, as in this bubble.
				if path == "shared" && at[3] != start {
					t.Errorf("batch after the spin written after %v, want at once", at[3].Sub(start))
				}
			})
		})
	}
}

// gateWriter holds every write until the test lets it through, and records
// nothing, so that it allocates nothing.
type gateWriter struct{ gate chan struct{} }

func (g *gateWriter) Write(p []byte) (int, error) {
	<-g.gate
	return len(p), nil
}

// Gathering allocates nothing: the idle waker is one goroutine, kicked
// through a channel, not a new goroutine per gather.
func TestWriterGatherDoesNotAllocate(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	// The race detector's runtime allocates now and then (up to 7 times in
	// 40 drains, in the whole package's run); one allocation per gather
	// would be about 50.
	tolerated := 0.0
	if raceEnabled {
		tolerated = 15
	}
	synctest.Test(t, func(t *testing.T) {
		dst := &gateWriter{gate: make(chan struct{})}
		w := NewWriter(dst)
		l := w.Lane()
		defer func() {
			close(dst.gate)
			l.Close()
			w.Close()
		}()
		synctest.Wait()
		msg := []byte("m")
		l.Write(msg)
		synctest.Wait()
		cycle := func() { // a message waits while the flusher writes the last one
			l.Write(msg)
			dst.gate <- struct{}{}
			synctest.Wait()
		}
		for range 8 {
			cycle()
		}
		n := leastAllocs(func() float64 {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for range 200 {
				cycle()
			}
			runtime.ReadMemStats(&after)
			return float64(after.Mallocs - before.Mallocs)
		})
		if n > tolerated {
			t.Errorf("%v allocations over 200 busy drains (about 50 gathers), want 0", n)
		}
	})
}
