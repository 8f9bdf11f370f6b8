package fanin_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/fanin-dev/fanin"
)

// recorder is a destination that records every Write call.
type recorder struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	sizes  []int // of each Write call
	failAt int   // fail once this many bytes have been written; 0: never
	err    error // what to fail with
	gate   chan struct{}
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.gate != nil {
		<-r.gate
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writes++
	r.sizes = append(r.sizes, len(p))
	if r.failAt > 0 && r.buf.Len()+len(p) > r.failAt {
		n := r.failAt - r.buf.Len()
		r.buf.Write(p[:n])
		return n, r.err
	}
	return r.buf.Write(p)
}

func (r *recorder) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Clone(r.buf.Bytes())
}

// writerFor returns writer p's way into w: a Lane of its own for even p,
// Write for odd p, so that tests cover both paths at once. done closes the
// lane.
func writerFor(w *fanin.Writer, p int) (write func([]byte) (int, error), done func()) {
	if p%2 == 1 {
		return w.Write, func() {}
	}
	l := w.Lane()
	return l.Write, func() { l.Close() }
}

// message encodes producer p's message i: a length-prefixed record whose
// body repeats p, so that a split or interleaving shows.
func message(p, i int) []byte {
	n := 1 + (p*31+i)%40
	b := binary.LittleEndian.AppendUint32(nil, uint32(n))
	b = binary.LittleEndian.AppendUint32(b, uint32(p))
	b = binary.LittleEndian.AppendUint32(b, uint32(i))
	return append(b, bytes.Repeat([]byte{byte(p)}, n)...)
}

// parseMessages checks a stream of message records: whole, in order per
// producer; it returns how many it read per producer.
func parseMessages(t *testing.T, stream []byte, producers int) []int {
	t.Helper()
	next := make([]int, producers)
	for len(stream) > 0 {
		if len(stream) < 12 {
			t.Fatalf("truncated record")
		}
		n := int(binary.LittleEndian.Uint32(stream))
		p := int(binary.LittleEndian.Uint32(stream[4:]))
		i := int(binary.LittleEndian.Uint32(stream[8:]))
		if p >= producers || i != next[p] || len(stream) < 12+n ||
			!bytes.Equal(stream[12:12+n], bytes.Repeat([]byte{byte(p)}, n)) {
			t.Fatalf("bad record: producer %d seq %d len %d (want seq %d)", p, i, n, next[p])
		}
		next[p]++
		stream = stream[12+n:]
	}
	return next
}

func TestWriterConcurrentMessagesStayWhole(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(t *testing.T) (io.Writer, func() []byte)
	}{
		{"memory", func(*testing.T) (io.Writer, func() []byte) {
			r := &recorder{}
			return r, r.bytes
		}},
		// Lane data is written from the lanes' chunks, through a stage in
		// memory and with a vectored write over TCP: a chunk reused before
		// its data is written shows as a broken record.
		{"tcp", tcpSink},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dst, received := tc.open(t)
			writeWholeMessages(t, dst, received)
		})
	}
}

// tcpSink returns one end of a loopback TCP connection, and a function that
// closes it and returns everything the other end received.
func tcpSink(t *testing.T) (io.Writer, func() []byte) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var got bytes.Buffer
	done := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_, err = io.Copy(&got, c)
			c.Close()
		}
		done <- err
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	var once sync.Once
	return c, func() []byte {
		once.Do(func() {
			c.(*net.TCPConn).CloseWrite()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
		return got.Bytes()
	}
}

// writeWholeMessages writes message records through a Writer on dst from
// many goroutines, half of them through lanes, and checks what arrived.
func writeWholeMessages(t *testing.T, dst io.Writer, received func() []byte) {
	w := fanin.NewWriter(dst, fanin.WithCapacity(4096))
	const producers, per = 64, 300
	var wg sync.WaitGroup
	for p := range producers {
		wg.Go(func() {
			write, done := writerFor(w, p)
			defer done()
			for i := range per {
				m := message(p, i)
				if n, err := write(m); err != nil || n != len(m) {
					t.Errorf("Write = %d, %v", n, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for p, n := range parseMessages(t, received(), producers) {
		if n != per {
			t.Fatalf("producer %d: %d messages arrived, want %d", p, n, per)
		}
	}
	s := w.Stats()
	if s.Accepted != producers*per || s.Delivered != s.Accepted || s.Undelivered != 0 || s.Bytes != uint64(len(received())) {
		t.Fatalf("Stats = %+v", s)
	}
	if s.Batches >= s.Delivered {
		t.Fatalf("%d batches for %d messages: writes did not batch", s.Batches, s.Delivered)
	}
	if _, err := w.Write([]byte("late")); !errors.Is(err, fanin.ErrClosed) {
		t.Fatalf("Write after Close = %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
}

func TestWriterFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dst := &recorder{}
		w := fanin.NewWriter(dst, fanin.WithMaxDelay(time.Hour))
		defer w.Close()
		w.Write([]byte("hello "))
		l := w.Lane()
		l.Write([]byte("world"))
		// The hour-long linger would hold the batch: Flush cuts it short.
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if got := string(dst.bytes()); got != "hello world" {
			t.Fatalf("after Flush the destination has %q", got)
		}
		if err := w.Flush(); err != nil { // nothing buffered: returns at once
			t.Fatal(err)
		}
		l.Close()
	})
}

func TestWriterTooLarge(t *testing.T) {
	dst := &recorder{}
	w := fanin.NewWriter(dst, fanin.WithCapacity(8))
	if _, err := w.Write(make([]byte, 9)); !errors.Is(err, fanin.ErrTooLarge) {
		t.Fatalf("Write of 9 bytes into capacity 8 = %v", err)
	}
	l := w.Lane()
	if _, err := l.Write(make([]byte, 9)); !errors.Is(err, fanin.ErrTooLarge) {
		t.Fatalf("Lane.Write of 9 bytes into capacity 8 = %v", err)
	}
	if n, err := w.Write(nil); n != 0 || err != nil {
		t.Fatalf("empty Write = %d, %v", n, err)
	}
	w.Write([]byte("12345678"))
	l.Close()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if s := w.Stats(); s.Accepted != 1 || s.Delivered != 1 {
		t.Fatalf("Stats = %+v: refused writes must not count", s)
	}
}

// A TCP peer that goes away: the vectored writes fail, every writer learns
// it, and what was accepted is counted as delivered or not.
func TestWriterTCPPeerCloses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		io.CopyN(io.Discard, c, 64<<10)
		c.(*net.TCPConn).SetLinger(0) // reset, so that the writer's next writes fail
		c.Close()
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w := fanin.NewWriter(c, fanin.WithCapacity(16<<10))
	var wg sync.WaitGroup
	for p := range 8 {
		wg.Go(func() {
			write, done := writerFor(w, p)
			defer done()
			for i := 0; ; i++ {
				if _, err := write(message(p, i)); err != nil {
					return // the failure, reported to every writer
				}
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err == nil {
		t.Fatal("Close = nil after the peer went away")
	}
	s := w.Stats()
	if s.Delivered+s.Undelivered != s.Accepted || s.Undelivered == 0 || s.Delivered == 0 {
		t.Fatalf("Stats = %+v: delivered + undelivered must equal accepted", s)
	}
}

func TestWriterDestinationFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("connection reset")
		dst := &recorder{failAt: 100, err: boom, gate: make(chan struct{})}
		w := fanin.NewWriter(dst, fanin.WithCapacity(64))
		var wg sync.WaitGroup
		errs := make(chan error, 40)
		for p := range 20 {
			wg.Go(func() {
				write, done := writerFor(w, p)
				defer done()
				for {
					if _, err := write(bytes.Repeat([]byte{'x'}, 10)); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		synctest.Wait() // the flusher is stuck in dst, the writers parked: full
		close(dst.gate)
		wg.Wait()
		close(errs)
		for err := range errs {
			if !errors.Is(err, boom) {
				t.Fatalf("writer returned %v, want the destination's error", err)
			}
		}
		if err := w.Flush(); !errors.Is(err, boom) {
			t.Fatalf("Flush = %v", err)
		}
		if _, err := w.Write([]byte("x")); !errors.Is(err, boom) {
			t.Fatalf("Write after failure = %v", err)
		}
		if err := w.Close(); !errors.Is(err, boom) {
			t.Fatalf("Close = %v", err)
		}
		s := w.Stats()
		if s.Delivered+s.Undelivered != s.Accepted || s.Undelivered == 0 {
			t.Fatalf("Stats = %+v: delivered + undelivered must equal accepted", s)
		}
		if got := len(dst.bytes()); uint64(got) < s.Bytes {
			t.Fatalf("destination has %d bytes, Stats.Bytes = %d", got, s.Bytes)
		}
	})
}

func TestWriterShortWrite(t *testing.T) {
	w := fanin.NewWriter(shortWriter{})
	w.Write([]byte("abc"))
	if err := w.Close(); !errors.Is(err, io.ErrShortWrite) {
		t.Fatalf("Close = %v, want io.ErrShortWrite", err)
	}
}

type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) / 2, nil }

func TestWriterContextCancelWhileFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dst := &recorder{gate: make(chan struct{})}
		w := fanin.NewWriter(dst, fanin.WithCapacity(8))
		w.Write([]byte("abcd")) // the flusher takes it and blocks in dst
		synctest.Wait()
		w.Write([]byte("efgh")) // with the batch in flight, fills the capacity
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if _, err := w.WriteContext(ctx, []byte("ijkl")); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WriteContext = %v", err)
		}
		close(dst.gate)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if got := string(dst.bytes()); got != "abcdefgh" {
			t.Fatalf("destination has %q", got)
		}
	})
}

// To a destination without a vectored write, lane data is copied through a
// 64 KiB stage: a batch costs one Write per stage of it, and a piece that
// fills a stage by itself is written as it is.
func TestWriterStagesLaneData(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dst := &recorder{gate: make(chan struct{})}
		w := fanin.NewWriter(dst)
		var want bytes.Buffer
		write := func(write func([]byte) (int, error), p []byte) {
			if _, err := write(p); err != nil {
				t.Fatal(err)
			}
			want.Write(p)
		}
		holdFlusher(w)
		want.WriteString("first")
		write(w.Write, bytes.Repeat([]byte("s"), 100<<10))
		l := w.Lane()
		for i := range 200 { // 200 KB of lane data, in the next batch too
			write(l.Write, bytes.Repeat([]byte{byte(i)}, 1000))
		}
		close(dst.gate)
		l.Close()
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(dst.bytes(), want.Bytes()) {
			t.Fatal("the destination did not get exactly what was written, in order")
		}
		wantSizes := []int{5, 100 << 10, 64 << 10, 64 << 10, 64 << 10, 200000 - 3*64<<10}
		if !slices.Equal(dst.sizes, wantSizes) {
			t.Fatalf("Write calls of %v bytes, want %v", dst.sizes, wantSizes)
		}
		if s := w.Stats(); s.Batches != 2 || s.Delivered != 202 {
			t.Fatalf("Stats = %+v, want 202 messages in 2 batches", s)
		}
	})
}

// A destination that fails in the middle of a staged batch: the Write calls
// before it went through, but the batch is counted undelivered whole (the
// destination cannot say which messages it took), and every later call
// returns the error.
func TestWriterStagedBatchFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("disk full")
		dst := &recorder{failAt: 100 << 10, err: boom, gate: make(chan struct{})}
		w := fanin.NewWriter(dst)
		holdFlusher(w)
		l := w.Lane()
		for i := range 200 { // 200 KB of lane data: the next batch, in 4 stages
			if _, err := l.Write(bytes.Repeat([]byte{byte(i)}, 1000)); err != nil {
				t.Fatal(err)
			}
		}
		close(dst.gate)
		if err := w.Flush(); !errors.Is(err, boom) {
			t.Fatalf("Flush = %v, want the destination's error", err)
		}
		if _, err := l.Write([]byte("x")); !errors.Is(err, boom) {
			t.Fatalf("Lane.Write after the failure = %v", err)
		}
		l.Close()
		if err := w.Close(); !errors.Is(err, boom) {
			t.Fatalf("Close = %v", err)
		}
		if want := []int{5, 64 << 10, 64 << 10}; !slices.Equal(dst.sizes, want) {
			t.Errorf("Write calls of %v bytes, want %v: the failed one ends the batch", dst.sizes, want)
		}
		if s := w.Stats(); s.Accepted != 201 || s.Delivered != 1 || s.Undelivered != 200 {
			t.Errorf("Stats = %+v: want 201 accepted, 1 delivered, 200 undelivered", s)
		}
	})
}

// Lane data stays in the lanes' chunks until it is written: with a
// destination that takes no vectored write as well, the flusher does not
// copy it into a batch array as large as what is buffered.
func TestWriterLaneDataIsNotCopiedIntoTheBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const capacity = 4 << 20
		gate := make(chan struct{})
		dst := writerFunc(func(p []byte) (int, error) { <-gate; return len(p), nil })
		w := fanin.NewWriter(dst, fanin.WithCapacity(capacity))
		holdFlusher(w)
		l := w.Lane()
		msg := make([]byte, 4<<10)
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range capacity / 2 / len(msg) {
			l.Write(msg)
		}
		close(gate)
		w.Flush()
		runtime.ReadMemStats(&after)
		// The lanes' chunks hold the 2 MiB, and the stage is 64 KiB. A copy
		// into a batch array would allocate 2 MiB more, or 4 growing it.
		if got := after.TotalAlloc - before.TotalAlloc; got > capacity/2+capacity/8 {
			t.Errorf("%d KiB allocated to write 2048 KiB through a lane", got>>10)
		}
		l.Close()
		w.Close()
	})
}

func ExampleWriter_Lane() {
	var out bytes.Buffer
	w := fanin.NewWriter(&out)
	var wg sync.WaitGroup
	for worker := range 3 {
		wg.Go(func() {
			lane := w.Lane() // one per goroutine: no shared lock on the hot path
			defer lane.Close()
			for i := range 2 {
				fmt.Fprintf(lane, "worker %d line %d\n", worker, i)
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		panic(err)
	}
	fmt.Println(bytes.Count(out.Bytes(), []byte("\n")), "lines")
	// Output: 6 lines
}

// Flush covers every message accepted before it, even one that a lane
// published while the flusher was reading that lane: each writer writes,
// flushes, then finds its own message at the destination.
func TestWriterFlushCoversAcceptedMessages(t *testing.T) {
	dst := &countingDest{}
	w := fanin.NewWriter(dst, fanin.WithCapacity(1<<12))
	var wg sync.WaitGroup
	for p := range 8 {
		wg.Go(func() {
			write, done := writerFor(w, p)
			defer done()
			for i := range 300 {
				write([]byte{byte(p)})
				if err := w.Flush(); err != nil {
					t.Error(err)
					return
				}
				if got := dst.count(byte(p)); got != i+1 {
					t.Errorf("writer %d: after Flush the destination has %d of its %d messages", p, got, i+1)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// countingDest counts the bytes of each value it was given.
type countingDest struct {
	mu sync.Mutex
	n  [256]int
}

func (d *countingDest) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, b := range p {
		d.n[b]++
	}
	return len(p), nil
}

func (d *countingDest) count(b byte) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n[b]
}

// The capacity covers the batch being written: while the destination holds
// a full batch, nothing more is accepted.
func TestWriterCapacityIncludesBatchInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dst := &recorder{gate: make(chan struct{})}
		w := fanin.NewWriter(dst, fanin.WithCapacity(4))
		w.Write([]byte("abcd")) // the flusher takes it and blocks in dst
		synctest.Wait()
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if _, err := w.WriteContext(ctx, []byte("e")); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WriteContext with a full batch in flight = %v, want DeadlineExceeded", err)
		}
		if s := w.Stats(); s.Buffered != 1 || s.Waits != 1 {
			t.Fatalf("Stats = %+v, want the batch in flight buffered and one wait", s)
		}
		close(dst.gate)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	})
}

// holdFlusher writes "first" through w and waits, in a synctest bubble,
// until the flusher has taken it and is blocked writing it to a gated
// destination: what is written next waits for the following batch.
func holdFlusher(w *fanin.Writer) {
	w.Write([]byte("first"))
	synctest.Wait()
}

// writerFunc is an io.Writer made of a function.
type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
