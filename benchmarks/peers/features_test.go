package peers

// These tests establish the feature table in benchmarks/README.md from the
// peers' behaviour, not from their READMEs: each one names the cell it backs.

import (
	"bytes"
	"context"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/Workiva/go-datastructures/queue"
	"github.com/eapache/channels"
	"github.com/puzpuzpuz/xsync/v4"
	"github.com/smallnest/chanx"
	"go.uber.org/zap/zapcore"

	"github.com/fanin-dev/fanin/internal/wire"
)

// bounded: a full xsync queue refuses the next item.
func TestFeatureXsyncBounded(t *testing.T) {
	q := xsync.NewMPMCQueue[int](queueCap)
	for i := range queueCap {
		if !q.TryEnqueue(i) {
			t.Fatalf("refused item %d of %d", i, queueCap)
		}
	}
	if q.TryEnqueue(-1) {
		t.Fatal("accepted an item past its capacity")
	}
}

// bounded: a full Workiva ring refuses Offer; close+drain: Dispose drops
// what is queued (Get fails at once), so the reader cannot drain after it.
func TestFeatureWorkivaBoundedNoDrain(t *testing.T) {
	rb := queue.NewRingBuffer(queueCap)
	for i := range queueCap {
		if ok, err := rb.Offer(i); !ok || err != nil {
			t.Fatalf("refused item %d: %v", i, err)
		}
	}
	if ok, _ := rb.Offer(-1); ok {
		t.Fatal("accepted an item past its capacity")
	}
	rb.Dispose()
	if _, err := rb.Get(); err != queue.ErrDisposed {
		t.Fatalf("Get after Dispose = %v, want ErrDisposed with %d items queued", err, rb.Len())
	}
}

// bounded and parks: once the buffer holds its size, the next send blocks,
// durably (parked on a channel), which synctest.Wait establishes; close+drain:
// after Close, Out delivers every item, then closes.
func TestFeatureEapacheBoundedParksDrains(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ch := channels.NewBatchingChannel(queueCap)
		for i := range queueCap {
			ch.In() <- i
		}
		sent := make(chan struct{})
		go func() {
			ch.In() <- queueCap
			close(sent)
		}()
		synctest.Wait() // every goroutine in the bubble is durably blocked
		select {
		case <-sent:
			t.Fatal("a send past the buffer size did not block")
		default:
		}
		n := 0
		done := make(chan struct{})
		go func() {
			<-sent
			ch.Close()
			close(done)
		}()
		for batch := range ch.Out() {
			n += len(batch.([]any))
		}
		<-done
		if n != queueCap+1 {
			t.Fatalf("drained %d items, want %d", n, queueCap+1)
		}
	})
}

// bounded: no. 100 times its initial capacity goes in with nobody reading.
// close+drain: closing In delivers all of it. ctx cancel: cancelling the
// context closes Out and drops what is buffered.
func TestFeatureChanxUnboundedDrainCancel(t *testing.T) {
	const n = 100 * queueCap
	t.Run("close", func(t *testing.T) {
		ch := chanx.NewUnboundedChan[int](t.Context(), queueCap)
		for i := range n {
			ch.In <- i
		}
		close(ch.In)
		got := 0
		for v := range ch.Out {
			if v != got {
				t.Fatalf("item %d is %d: order lost", got, v)
			}
			got++
		}
		if got != n {
			t.Fatalf("drained %d, want %d", got, n)
		}
	})
	t.Run("cancel", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		ch := chanx.NewUnboundedChan[int](ctx, queueCap)
		for i := range n {
			ch.In <- i
		}
		cancel()
		got := 0
		for range ch.Out {
			got++
		}
		if got >= n {
			t.Fatalf("cancel delivered all %d items: expected it to drop the buffer", got)
		}
		t.Logf("cancel with %d buffered: %d delivered, %d dropped", n, got, n-got)
	})
}

// syncBuffer records what zap flushes.
type syncBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.b.Write(p)
}

func (s *syncBuffer) Sync() error { return nil }

func (s *syncBuffer) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

// bounded: the writer that overflows zap's buffer flushes it itself, so at
// most Size bytes wait. close+drain: Stop flushes the rest. Light load: at
// the default interval a small write stays buffered until the flush tick
// (30 s of fake time in the bubble).
func TestFeatureZapBoundedDrainTick(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dst := &syncBuffer{}
		ws := &zapcore.BufferedWriteSyncer{WS: dst, Size: 1024}
		msg := make([]byte, 100)
		for range 10 {
			_, _ = ws.Write(msg)
		}
		if dst.len() != 0 {
			t.Fatalf("flushed %d bytes before the buffer was full", dst.len())
		}
		_, _ = ws.Write(msg) // 1100 > 1024: the writer flushes the first 1000
		if dst.len() != 1000 {
			t.Fatalf("after overflow the destination has %d bytes, want 1000", dst.len())
		}
		time.Sleep(29 * time.Second) // fake time: the default tick is 30 s
		synctest.Wait()
		if dst.len() != 1000 {
			t.Fatalf("flushed before the default 30 s tick: %d bytes", dst.len())
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if dst.len() != 1100 {
			t.Fatalf("the 30 s tick left %d bytes, want 1100", dst.len())
		}
		_, _ = ws.Write(msg)
		if err := ws.Stop(); err != nil {
			t.Fatal(err)
		}
		if dst.len() != 1200 {
			t.Fatalf("Stop left %d bytes flushed, want 1200", dst.len())
		}
	})
}

// stall is a destination that blocks every write until released, and
// reports when the first write has begun.
type stall struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (s *stall) Write(p []byte) (int, error) {
	s.once.Do(func() { close(s.entered) })
	<-s.release
	return len(p), nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// parks: while the destination is stalled, a contestant whose producers
// wait by parking uses next to no CPU; one that spins burns cores. CPU use
// over a wall-clock window is the observation itself, so this measures once
// and asserts only the robust side (the channel- and mutex-based peers stay
// under half a core); every figure is logged for the README's feature table,
// the project's own contestants included for comparison.
func TestFeatureStalledSinkCPU(t *testing.T) {
	if testing.Short() {
		t.Skip("measures CPU over a wall-clock window")
	}
	const window = 100 * time.Millisecond
	mustPark := map[string]bool{"eapache-batching": true, "zap-buffered": true, "zap-buffered-1ms": true}
	for _, s := range Contestants() {
		switch s.Name() {
		case "chanx-unbounded", "direct":
			continue // nothing waits: chanx never holds producers back, direct has none
		}
		t.Run(s.Name(), func(t *testing.T) {
			h := wire.Header{Mode: wire.Byte, Producers: 4, Messages: 1 << 16, Size: 1}
			dst := &stall{entered: make(chan struct{}), release: make(chan struct{})}
			r, err := s.Prepare(dst, h)
			if err != nil {
				t.Fatal(err)
			}
			r.Start()
			<-dst.entered
			// The consumer is now stuck in Write; a fifth of the window lets
			// the producers fill the queue and reach their waiting state.
			time.Sleep(window / 5)
			c0, w0 := cpuTime(), time.Now()
			time.Sleep(window)
			cores := float64(cpuTime()-c0) / float64(time.Since(w0))
			close(dst.release)
			if err := wait(t, r); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %.2f cores busy while the sink stalled", s.Name(), cores)
			if mustPark[s.Name()] && cores > 0.5 {
				t.Errorf("%s used %.2f cores while its producers should be parked", s.Name(), cores)
			}
		})
	}
}
