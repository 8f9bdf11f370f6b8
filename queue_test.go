package fanin_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/fanin-dev/fanin"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// drainAll drains q until io.EOF and returns everything in order.
func drainAll[T any](t *testing.T, q *fanin.Queue[T]) []T {
	t.Helper()
	var all, spare []T
	for {
		b, err := q.Drain(t.Context(), spare)
		if errors.Is(err, io.EOF) {
			return all
		}
		if err != nil {
			t.Fatalf("Drain: %v", err)
		}
		all = append(all, b...)
		spare = b
	}
}

func TestPushDrainKeepsOrder(t *testing.T) {
	q := fanin.NewQueue[int]()
	ctx := t.Context()
	for i := range 100 {
		if err := q.Push(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	if got := q.Len(); got != 100 {
		t.Fatalf("Len = %d, want 100", got)
	}
	b, err := q.Drain(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range b {
		if v != i {
			t.Fatalf("batch[%d] = %d, want %d", i, v, i)
		}
	}
	if got := q.Len(); got != 0 {
		t.Fatalf("Len after Drain = %d, want 0", got)
	}
	q.Close()
	if b, err := q.Drain(ctx, b); !errors.Is(err, io.EOF) || len(b) != 0 {
		t.Fatalf("Drain after Close on empty queue = %v, %v; want nothing, io.EOF", b, err)
	}
}

func TestDrainReusesSpare(t *testing.T) {
	q := fanin.NewQueue[int](fanin.WithCapacity(8))
	ctx := t.Context()
	spare := make([]int, 0, 8)
	q.Push(ctx, 1)
	first, _ := q.Drain(ctx, spare)
	// The queue now fills spare's array; the next batch must be it.
	q.Push(ctx, 2)
	second, _ := q.Drain(ctx, first)
	if &second[:1][0] != &spare[:1][0] {
		t.Fatal("the second batch does not reuse the spare handed to the first Drain")
	}
	if second[0] != 2 || first[0] != 1 {
		t.Fatalf("batches = %v, %v", first, second)
	}
}

func TestTryPush(t *testing.T) {
	q := fanin.NewQueue[int](fanin.WithCapacity(2))
	if err := q.TryPush(1); err != nil {
		t.Fatal(err)
	}
	if err := q.TryPush(2); err != nil {
		t.Fatal(err)
	}
	if err := q.TryPush(3); !errors.Is(err, fanin.ErrFull) {
		t.Fatalf("TryPush on full queue = %v, want ErrFull", err)
	}
	q.Close()
	if err := q.TryPush(4); !errors.Is(err, fanin.ErrClosed) {
		t.Fatalf("TryPush after Close = %v, want ErrClosed", err)
	}
	if got := drainAll(t, q); !slices.Equal(got, []int{1, 2}) {
		t.Fatalf("drained %v, want [1 2]", got)
	}
}

func TestPushBatch(t *testing.T) {
	q := fanin.NewQueue[int](fanin.WithCapacity(4))
	ctx := t.Context()
	if err := q.PushBatch(ctx, []int{1, 2, 3, 4, 5}); !errors.Is(err, fanin.ErrTooLarge) {
		t.Fatalf("PushBatch over capacity = %v, want ErrTooLarge", err)
	}
	if err := q.PushBatch(ctx, []int{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	// Two more do not fit: with a cancelled context the batch fails whole.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := q.PushBatch(cctx, []int{4, 5}); !errors.Is(err, context.Canceled) {
		t.Fatalf("PushBatch = %v, want context.Canceled", err)
	}
	if err := q.PushBatch(ctx, nil); err != nil {
		t.Fatalf("empty PushBatch = %v", err)
	}
	q.Close()
	if got := drainAll(t, q); !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("drained %v, want [1 2 3]", got)
	}
}

func TestPushParksUntilDrained(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := fanin.NewQueue[int](fanin.WithCapacity(1))
		ctx := t.Context()
		q.Push(ctx, 1)
		done := make(chan error)
		go func() { done <- q.Push(ctx, 2) }()
		synctest.Wait()
		select {
		case err := <-done:
			t.Fatalf("Push on a full queue returned %v without parking", err)
		default:
		}
		if got, _ := q.Drain(ctx, nil); !slices.Equal(got, []int{1}) {
			t.Fatalf("first batch %v", got)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got, _ := q.Drain(ctx, nil); !slices.Equal(got, []int{2}) {
			t.Fatalf("second batch %v", got)
		}
		if s := q.Stats(); s.Waits != 1 {
			t.Fatalf("Stats.Waits = %d, want 1", s.Waits)
		}
	})
}

func TestPushCancelledWhileParked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := fanin.NewQueue[int](fanin.WithCapacity(1))
		q.Push(t.Context(), 1)
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		err := q.Push(ctx, 2)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Push = %v, want DeadlineExceeded", err)
		}
		q.Close()
		if got := drainAll(t, q); !slices.Equal(got, []int{1}) {
			t.Fatalf("drained %v: a cancelled Push must not enqueue", got)
		}
	})
}

func TestCloseReleasesParkedProducers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := fanin.NewQueue[int](fanin.WithCapacity(1))
		ctx := t.Context()
		q.Push(ctx, 0)
		var wg sync.WaitGroup
		errs := make([]error, 10)
		for i := range errs {
			wg.Go(func() { errs[i] = q.Push(ctx, i+1) })
		}
		lane := q.Producer()
		wg.Go(func() { lane.Push(ctx, 100) })
		synctest.Wait()
		q.Close()
		q.Close() // idempotent
		wg.Wait()
		for i, err := range errs {
			if !errors.Is(err, fanin.ErrClosed) {
				t.Fatalf("parked Push %d = %v, want ErrClosed", i, err)
			}
		}
		if got := drainAll(t, q); !slices.Equal(got, []int{0}) {
			t.Fatalf("drained %v, want [0]", got)
		}
		if err := q.Push(ctx, 1); !errors.Is(err, fanin.ErrClosed) {
			t.Fatalf("Push after Close = %v", err)
		}
		if err := q.Producer().Push(ctx, 1); !errors.Is(err, fanin.ErrClosed) {
			t.Fatalf("Push on a lane made after Close = %v", err)
		}
	})
}

func TestDrainCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := fanin.NewQueue[int]()
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			time.Sleep(time.Second)
			cancel()
		}()
		if _, err := q.Drain(ctx, nil); !errors.Is(err, context.Canceled) {
			t.Fatalf("Drain = %v, want Canceled", err)
		}
		q.Push(t.Context(), 7)
		q.Close()
		if got := drainAll(t, q); !slices.Equal(got, []int{7}) {
			t.Fatalf("drained %v", got)
		}
	})
}

func TestMaxDelayLingers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const d = 10 * time.Millisecond
		q := fanin.NewQueue[int](fanin.WithMaxDelay(d))
		ctx := t.Context()
		go func() {
			q.Push(ctx, 1)
			time.Sleep(d / 2)
			q.Push(ctx, 2) // joins the batch: within the delay
			time.Sleep(d)
			q.Push(ctx, 3)
		}()
		start := time.Now()
		b, _ := q.Drain(ctx, nil)
		if !slices.Equal(b, []int{1, 2}) {
			t.Fatalf("first batch %v, want [1 2]", b)
		}
		if waited := time.Since(start); waited != d {
			t.Fatalf("first batch after %v, want %v", waited, d)
		}
		b, _ = q.Drain(ctx, nil)
		if !slices.Equal(b, []int{3}) {
			t.Fatalf("second batch %v, want [3]", b)
		}
	})
}

func TestMaxDelayEndsWhenFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := fanin.NewQueue[int](fanin.WithCapacity(2), fanin.WithMaxDelay(time.Hour))
		ctx := t.Context()
		go func() {
			for i := range 3 {
				q.Push(ctx, i)
			}
		}()
		start := time.Now()
		b, _ := q.Drain(ctx, nil)
		if !slices.Equal(b, []int{0, 1}) || time.Since(start) != 0 {
			t.Fatalf("got %v after %v; want [0 1] at once: a producer was waiting", b, time.Since(start))
		}
		b, _ = q.Drain(ctx, nil) // lingers the hour: nothing else comes
		if !slices.Equal(b, []int{2}) {
			t.Fatalf("second batch %v", b)
		}
	})
}

func TestProducerOrderAndCredit(t *testing.T) {
	q := fanin.NewQueue[int](fanin.WithCapacity(1000))
	ctx := t.Context()
	p := q.Producer()
	for i := range 600 {
		if err := p.Push(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.PushBatch(ctx, []int{600, 601, 602}); err != nil {
		t.Fatal(err)
	}
	if got := q.Len(); got != 603 {
		t.Fatalf("Len = %d, want 603", got)
	}
	b, _ := q.Drain(ctx, nil)
	for i, v := range b {
		if v != i {
			t.Fatalf("batch[%d] = %d", i, v)
		}
	}
	if len(b) != 603 {
		t.Fatalf("batch has %d, want 603", len(b))
	}
	p.Close()
	p.Close()
	if err := p.Push(ctx, 1); !errors.Is(err, fanin.ErrClosed) {
		t.Fatalf("Push on closed lane = %v", err)
	}
	// The lane returned its unused reservation: the shared path can fill
	// the whole capacity.
	for i := range 1000 {
		if err := q.TryPush(i); err != nil {
			t.Fatalf("TryPush %d after lane Close: %v", i, err)
		}
	}
	s := q.Stats()
	if s.Accepted != 1603 || s.Delivered != 603 || s.Buffered != 1000 || s.Lanes != 0 {
		t.Fatalf("Stats = %+v", s)
	}
	q.Close()
	drainAll(t, q)
}

// A lane reserves room a chunk at a time: its first push takes room for the
// rest of its first chunk (1024 elements at this capacity), and no more.
func TestProducerReservesAChunk(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const capacity, chunk = 1 << 20, 1024
		q := fanin.NewQueue[byte](fanin.WithCapacity(capacity))
		p := q.Producer()
		if err := p.TryPush(0); err != nil {
			t.Fatal(err)
		}
		if err := q.PushBatch(t.Context(), make([]byte, capacity-chunk)); err != nil {
			t.Fatal(err)
		}
		if err := q.TryPush(0); !errors.Is(err, fanin.ErrFull) {
			t.Fatalf("shared TryPush with the lane holding a chunk's room = %v, want ErrFull", err)
		}
		for i := 1; i < chunk; i++ {
			if err := p.TryPush(byte(i)); err != nil {
				t.Fatalf("lane TryPush %d within its chunk's room: %v", i, err)
			}
		}
		if err := p.TryPush(0); !errors.Is(err, fanin.ErrFull) {
			t.Fatalf("lane TryPush past its chunk's room = %v, want ErrFull", err)
		}
		p.Close()
		q.Close()
		if got := len(drainAll(t, q)); got != capacity {
			t.Fatalf("drained %d, want %d", got, capacity)
		}
	})
}

// A lane keeps the room it reserved while others park for room: handing it
// back would make the lane park on its next push too.
func TestProducerKeepsCreditWhileOthersWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const capacity = 1 << 14
		q := fanin.NewQueue[int](fanin.WithCapacity(capacity))
		ctx := t.Context()
		p := q.Producer()
		if err := p.Push(ctx, 0); err != nil { // reserves a first block, of 64
			t.Fatal(err)
		}
		if err := q.PushBatch(ctx, make([]int, capacity-64)); err != nil { // the rest
			t.Fatal(err)
		}
		parked := make(chan error, 1)
		go func() { parked <- q.Push(ctx, -1) }()
		synctest.Wait()
		for i := 1; i < 64; i++ {
			if err := p.TryPush(i); err != nil {
				t.Fatalf("lane TryPush %d with reserved room while another producer waits: %v", i, err)
			}
		}
		if err := p.TryPush(64); !errors.Is(err, fanin.ErrFull) {
			t.Fatalf("lane TryPush past its reserved room = %v, want ErrFull", err)
		}
		if s := q.Stats(); s.Waits != 1 {
			t.Fatalf("Stats.Waits = %d, want 1", s.Waits)
		}
		if b, _ := q.Drain(ctx, nil); len(b) != capacity {
			t.Fatalf("first batch has %d, want %d", len(b), capacity)
		}
		if err := <-parked; err != nil {
			t.Fatal(err)
		}
		p.Close()
		q.Close()
		if got := drainAll(t, q); !slices.Equal(got, []int{-1}) {
			t.Fatalf("then drained %v, want [-1]", got)
		}
	})
}

// A parked lane is woken with the room it asked for, not a sliver of it,
// while more room is on its way back: woken with a few credits it would push
// a few messages and park again.
func TestProducerWokenWithWhatItAskedFor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const capacity = 1 << 14 // lanes reserve 64 at first
		q := fanin.NewQueue[int](fanin.WithCapacity(capacity))
		ctx := t.Context()
		holder := q.Producer()
		if err := holder.Push(ctx, 0); err != nil { // holds 63 unused
			t.Fatal(err)
		}
		if err := q.PushBatch(ctx, make([]int, capacity-64)); err != nil {
			t.Fatal(err)
		}
		waiter := q.Producer()
		pushed := make(chan error, 1)
		go func() { pushed <- waiter.Push(ctx, 1) }()
		synctest.Wait()
		holder.Close() // 63 credits come back, and the consumer holds the rest
		synctest.Wait()
		select {
		case err := <-pushed:
			t.Fatalf("lane woken with a sliver while the queue was still full of messages (Push = %v)", err)
		default:
		}
		if b, _ := q.Drain(ctx, nil); len(b) != capacity-63 {
			t.Fatalf("batch has %d, want %d", len(b), capacity-63)
		}
		if err := <-pushed; err != nil {
			t.Fatal(err)
		}
		for i := range 63 { // the rest of the 64 it asked for
			if err := waiter.TryPush(i); err != nil {
				t.Fatalf("TryPush %d within the lane's grant: %v", i, err)
			}
		}
		waiter.Close()
		q.Close()
		if got := len(drainAll(t, q)); got != 64 {
			t.Fatalf("then drained %d, want 64", got)
		}
	})
}

// When no more room is coming back, a parked lane gets what is free, if that
// is all it needs, rather than waiting for more: the rest may be held by
// lanes that never push again.
func TestProducerWokenWithWhatIsLeft(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const capacity = 1 << 14 // lanes reserve 64, then 128, then 256
		q := fanin.NewQueue[int](fanin.WithCapacity(capacity))
		ctx := t.Context()
		waiter := q.Producer()
		for i := range 64 + 128 { // uses its first two reservations up
			if err := waiter.TryPush(i); err != nil {
				t.Fatal(err)
			}
		}
		q.Drain(ctx, nil)
		// 250 lanes hold 63 credits each that they never use.
		holders := make([]*fanin.Producer[int], 250)
		for i := range holders {
			holders[i] = q.Producer()
			if err := holders[i].TryPush(0); err != nil {
				t.Fatal(err)
			}
		}
		for q.TryPush(0) == nil { // the shared path takes the rest
		}
		pushed := make(chan error, 1)
		go func() { pushed <- waiter.Push(ctx, 1) }() // asks for 256
		synctest.Wait()
		q.Drain(ctx, nil) // frees less than 4x256, and nothing else is coming
		synctest.Wait()
		select {
		case err := <-pushed:
			if err != nil {
				t.Fatal(err)
			}
		default:
			t.Fatal("lane still parked with room free and no more room coming back")
		}
		for _, h := range holders {
			h.Close()
		}
		waiter.Close()
		q.Close()
		if got := len(drainAll(t, q)); got != 1 {
			t.Fatalf("then drained %d, want 1", got)
		}
	})
}

func TestProducerTryPushFull(t *testing.T) {
	q := fanin.NewQueue[int](fanin.WithCapacity(3))
	p := q.Producer()
	for i := range 3 {
		if err := p.TryPush(i); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.TryPush(3); !errors.Is(err, fanin.ErrFull) {
		t.Fatalf("TryPush = %v, want ErrFull", err)
	}
	if err := p.PushBatch(t.Context(), make([]int, 4)); !errors.Is(err, fanin.ErrTooLarge) {
		t.Fatalf("PushBatch = %v, want ErrTooLarge", err)
	}
	q.Close()
	if got := drainAll(t, q); !slices.Equal(got, []int{0, 1, 2}) {
		t.Fatalf("drained %v", got)
	}
}

// A lane message longer than a chunk spans chunks and stays contiguous.
func TestProducerBatchSpansChunks(t *testing.T) {
	q := fanin.NewQueue[int](fanin.WithCapacity(1 << 20))
	ctx := t.Context()
	p := q.Producer()
	var want []int
	for n := range 20 {
		vs := make([]int, n*997%5000)
		for i := range vs {
			vs[i] = len(want) + i
		}
		want = append(want, vs...)
		if err := p.PushBatch(ctx, vs); err != nil {
			t.Fatal(err)
		}
		if n%3 == 0 {
			q.Push(ctx, -1) // shared-path messages may land between lane batches
		}
	}
	p.Close()
	q.Close()
	got := slices.DeleteFunc(drainAll(t, q), func(v int) bool { return v < 0 })
	if !slices.Equal(got, want) {
		t.Fatalf("lane messages out of order or lost: got %d, want %d", len(got), len(want))
	}
}

func TestQueueOptionsClamp(t *testing.T) {
	q := fanin.NewQueue[int](fanin.WithCapacity(-5), nil, fanin.WithMaxDelay(-time.Second))
	for i := range fanin.DefaultQueueCapacity {
		if err := q.TryPush(i); err != nil {
			t.Fatalf("TryPush %d: %v; default capacity expected", i, err)
		}
	}
	if err := q.TryPush(0); !errors.Is(err, fanin.ErrFull) {
		t.Fatalf("TryPush past default capacity = %v", err)
	}
	q.Close()
}
