package fanin

import (
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
)

// The lock excludes: many goroutines increment a plain counter under it, and
// none of the increments is lost (-race also checks the happens-before edges).
// Enough goroutines are used that some of them park.
func TestSpinLockExcludes(t *testing.T) {
	var l spinLock
	l.init()
	counter := 0
	var wg sync.WaitGroup
	const goroutines, each = 64, 2000
	for range goroutines {
		wg.Go(func() {
			for range each {
				l.Lock()
				counter++
				l.Unlock()
			}
		})
	}
	wg.Wait()
	if counter != goroutines*each {
		t.Fatalf("counter = %d, want %d: the lock let two holders in", counter, goroutines*each)
	}
	if !l.TryLock() {
		t.Fatal("the lock is still held after the last Unlock")
	}
}

// The consumer's LockFirst excludes too, and gets its turn among producers
// that keep the lock busy.
func TestSpinLockFirstExcludes(t *testing.T) {
	var l spinLock
	l.init()
	counter := 0
	var wg sync.WaitGroup
	stop := make(chan struct{})
	const producers, first = 8, 2000
	for range producers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				l.Lock()
				counter++
				l.Unlock()
			}
		})
	}
	mine := 0
	for range first {
		l.LockFirst()
		counter++
		mine++
		l.Unlock()
	}
	close(stop)
	wg.Wait()
	if mine != first || counter < first {
		t.Fatalf("LockFirst ran %d times, counter %d", mine, counter)
	}
	if !l.TryLock() {
		t.Fatal("the lock is still held after the last Unlock")
	}
}

// A LockFirst caller that cannot get the lock parks rather than spinning
// forever, keeps producers off once the holder unlocks, and is woken by that
// Unlock.
func TestSpinLockFirstParksAndWakes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var l spinLock
		l.init()
		l.Lock()
		got := make(chan struct{})
		go func() {
			l.LockFirst()
			close(got)
		}()
		synctest.Wait() // only a parked LockFirst is durably blocked
		if s := l.state.Load(); s != lockHeld|lockWanted|lockParked {
			t.Fatalf("state = %b, want held, wanted and parked", s)
		}
		l.Unlock()
		if l.TryLock() {
			t.Fatal("a producer took the lock while LockFirst was due")
		}
		<-got
		if s := l.state.Load(); s != lockHeld {
			t.Fatalf("state = %b after LockFirst returned, want held only", s)
		}
		l.Unlock()
	})
}

// BenchmarkSyncFloor measures the synchronisation each path of the queue
// needs per message, with one goroutine per CPU (RunParallel), as in the
// matrix of fanin bench. Each figure is elapsed time per operation with
// every CPU at work, comparable with the matrix's ns/msg:
//
//   - atomic-add/every-cpu: one atomic add on a shared word, the least any
//     single point of order costs, a lock-free one included. The shared path
//     promises per-goroutine order, so every push goes through one; added to
//     private's ns/msg, this is a floor for it.
//   - reserve-write/every-cpu: a lock-free point of order that also places
//     each message: an atomic add reserves the next byte of one shared
//     buffer, and the message is written there. Consecutive places go to
//     whichever CPU reserved them, so the buffer's cache lines move between
//     the CPUs as the messages do; a lock keeps them with its holder.
//   - lock/every-cpu: the shared path's Lock and Unlock, taken
//     continuously from both CPUs. This is what a push costs when
//     producers on every CPU contend, and why the shared path's flusher does
//     not gather (see gatherBytes): in the matrix, the flusher keeps one CPU
//     busy most of the time.
//   - publish/every-cpu: the atomic store with which a lane publishes each
//     message, on a cache line of its own; store/every-cpu is the same loop
//     with a plain store, what a design without synchronisation (private)
//     does instead. The difference is what a lane's publish adds; the
//     lanes' floor itself is measured by the polled-lanes contestant.
func BenchmarkSyncFloor(b *testing.B) {
	b.Run("lock/every-cpu", func(b *testing.B) {
		var l spinLock
		l.init()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.Lock()
				//lint:ignore SA2001 the lock alone is measured: data beside it would make the figure depend on where the allocator puts it
				l.Unlock()
			}
		})
	})
	b.Run("atomic-add/every-cpu", func(b *testing.B) {
		var n atomic.Uint64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				n.Add(1)
			}
		})
	})
	b.Run("reserve-write/every-cpu", func(b *testing.B) {
		const size = 1 << 20 // the default Writer's capacity
		var tail atomic.Uint64
		buf := make([]byte, size)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				at := tail.Add(1) - 1
				buf[at%size] = byte(at)
			}
		})
	})
	b.Run("publish/every-cpu", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			var pub struct {
				_ cacheLinePad
				v atomic.Uint64
				_ cacheLinePad
			}
			for i := uint64(0); pb.Next(); i++ {
				pub.v.Store(i)
			}
		})
	})
	// round-trip: a cache line's trip to the other CPU and back, which every
	// contended lock pays, and every read of a lane's published count in
	// part. On a shared VM it moves with where the host runs the two
	// virtual CPUs, and the shared path's figures move with it.
	b.Run("round-trip", func(b *testing.B) {
		var ping, pong paddedWord
		var stop atomic.Bool
		// wait spins until *w holds want, yielding now and then in case the
		// other side waits for this goroutine's processor.
		wait := func(w *paddedWord, want uint64) bool {
			for spins := 1; atomic.LoadUint64(&w.v) != want; spins++ {
				if stop.Load() {
					return false
				}
				if spins%(1<<16) == 0 {
					runtime.Gosched()
				}
			}
			return true
		}
		var echo sync.WaitGroup
		echo.Go(func() {
			for i := uint64(1); wait(&ping, i); i++ {
				atomic.StoreUint64(&pong.v, i)
			}
		})
		var i uint64
		for b.Loop() {
			i++
			atomic.StoreUint64(&ping.v, i)
			wait(&pong, i)
		}
		stop.Store(true)
		echo.Wait()
	})
	b.Run("store/every-cpu", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			w := new(paddedWord) // on the heap, so the stores are kept
			for i := uint64(0); pb.Next(); i++ {
				w.v = i
			}
			floorSink.Store(w.v)
		})
	})
}

// paddedWord is a word alone on its cache lines.
type paddedWord struct {
	_ cacheLinePad
	v uint64
	_ cacheLinePad
}

// floorSink keeps store/every-cpu's stores from being optimised away.
var floorSink atomic.Uint64

// The queue's lock word and its closed flag, which producers read on every
// push, share no cache line with other fields: the padding around them is
// there for speed, and nothing else would notice it gone.
func TestHotFieldsHaveCacheLinesOfTheirOwn(t *testing.T) {
	const line = 64
	typ := reflect.TypeFor[Queue[byte]]()
	for _, name := range []string{"mu", "closed"} {
		hot, _ := typ.FieldByName(name)
		for i := range typ.NumField() {
			f := typ.Field(i)
			if f.Name == "_" || f.Name == name {
				continue
			}
			end := f.Offset + f.Type.Size()
			if end+line > hot.Offset && f.Offset < hot.Offset+hot.Type.Size()+line {
				t.Errorf("%s (bytes %d-%d) is within %d bytes of %s (bytes %d-%d)",
					f.Name, f.Offset, end, line, name, hot.Offset, hot.Offset+hot.Type.Size())
			}
		}
	}
}
