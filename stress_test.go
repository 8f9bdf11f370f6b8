package fanin_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/fanin-dev/fanin"
)

// msg identifies one message: who sent it and its place in that sender's
// sequence.
type msg struct{ producer, seq int32 }

// checkDelivery reports messages delivered twice, out of order or lost.
// counts[p] is how many messages producer p had accepted.
func checkDelivery(t *testing.T, got []msg, counts []int32) {
	t.Helper()
	next := make([]int32, len(counts))
	for _, m := range got {
		if m.seq != next[m.producer] {
			t.Fatalf("producer %d: got seq %d, want %d (duplicate, reordered or lost)", m.producer, m.seq, next[m.producer])
		}
		next[m.producer]++
	}
	for p, n := range counts {
		if next[p] != n {
			t.Fatalf("producer %d: %d of %d accepted messages delivered", p, next[p], n)
		}
	}
}

// TestStress runs thousands of goroutines through every push path of a
// small queue (so they park often) while the consumer drains, and checks
// exactly-once, per-producer order delivery.
func TestStress(t *testing.T) {
	producers, perProducer := 2000, 200
	if testing.Short() {
		producers = 200
	}
	for _, capacity := range []int{7, 1000} {
		t.Run(fmt.Sprint("capacity=", capacity), func(t *testing.T) {
			q := fanin.NewQueue[msg](fanin.WithCapacity(capacity))
			ctx := t.Context()
			counts := make([]int32, producers)
			var wg sync.WaitGroup
			for p := range producers {
				wg.Go(func() {
					id := int32(p)
					switch p % 4 {
					case 0: // shared Push
						for i := range perProducer {
							if err := q.Push(ctx, msg{id, int32(i)}); err != nil {
								t.Error(err)
								return
							}
						}
					case 1: // shared PushBatch
						for i := 0; i < perProducer; i += 5 {
							b := []msg{{id, int32(i)}, {id, int32(i + 1)}, {id, int32(i + 2)}, {id, int32(i + 3)}, {id, int32(i + 4)}}
							if err := q.PushBatch(ctx, b); err != nil {
								t.Error(err)
								return
							}
						}
					case 2: // a lane
						l := q.Producer()
						defer l.Close()
						for i := range perProducer {
							if err := l.Push(ctx, msg{id, int32(i)}); err != nil {
								t.Error(err)
								return
							}
						}
					case 3: // a lane with batches
						l := q.Producer()
						defer l.Close()
						for i := 0; i < perProducer; i += 4 {
							b := []msg{{id, int32(i)}, {id, int32(i + 1)}, {id, int32(i + 2)}, {id, int32(i + 3)}}
							if err := l.PushBatch(ctx, b); err != nil {
								t.Error(err)
								return
							}
						}
					}
					counts[p] = int32(perProducer)
				})
			}
			var got []msg
			done := make(chan struct{})
			go func() {
				defer close(done)
				got = drainAll(t, q)
			}()
			wg.Wait()
			q.Close()
			<-done
			checkDelivery(t, got, counts)
			s := q.Stats()
			want := uint64(producers * perProducer)
			if s.Accepted != want || s.Delivered != want || s.Buffered != 0 {
				t.Fatalf("Stats = %+v, want %d accepted and delivered", s, want)
			}
		})
	}
}

// TestCloseRace closes the queue while producers of every kind are pushing
// and the consumer is draining: each message is either refused with
// ErrClosed or delivered, exactly once, in order.
func TestCloseRace(t *testing.T) {
	for seed := range 20 {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 1))
			q := fanin.NewQueue[msg](fanin.WithCapacity(1 + rng.IntN(64)))
			ctx := t.Context()
			const producers = 16
			counts := make([]int32, producers)
			var wg sync.WaitGroup
			for p := range producers {
				lane := p%2 == 1
				wg.Go(func() {
					push := func(m msg) error { return q.Push(ctx, m) }
					if lane {
						l := q.Producer()
						defer l.Close()
						push = func(m msg) error { return l.Push(ctx, m) }
					}
					for i := int32(0); ; i++ {
						if err := push(msg{int32(p), i}); err != nil {
							if !errors.Is(err, fanin.ErrClosed) {
								t.Error(err)
							}
							counts[p] = i
							return
						}
					}
				})
			}
			var got []msg
			done := make(chan struct{})
			go func() {
				defer close(done)
				got = drainAll(t, q)
			}()
			for range rng.IntN(2000) {
				q.Len() // let the producers run a little
			}
			q.Close()
			wg.Wait()
			<-done
			checkDelivery(t, got, counts)
			if s := q.Stats(); s.Accepted != s.Delivered {
				t.Fatalf("Stats = %+v: accepted and delivered differ after EOF", s)
			}
		})
	}
}

// A consumer that stops draining leaves producers parked; those with
// contexts return when their contexts end, and nothing leaks.
func TestConsumerStops(t *testing.T) {
	q := fanin.NewQueue[int](fanin.WithCapacity(4))
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			l := q.Producer()
			defer l.Close()
			for {
				if err := l.Push(ctx, 1); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	drainCtx, stopDrain := context.WithCancel(t.Context())
	go func() {
		stopDrain() // the consumer gives up at once
	}()
	if _, err := q.Drain(drainCtx, nil); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("producer returned %v, want context.Canceled", err)
		}
	}
	q.Close()
	for {
		if _, err := q.Drain(t.Context(), nil); errors.Is(err, io.EOF) {
			break
		}
	}
}
