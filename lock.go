package fanin

import (
	"runtime"
	"sync/atomic"
)

// spinLock is the queue's lock. Its critical sections last nanoseconds (an
// append and a few counters), so a goroutine that finds it held spins
// briefly, expecting the holder, running on another processor, to release
// it at once; only then does it park. sync.Mutex does not spin while other
// goroutines are runnable, which is exactly the case with thousands of
// producers: every collision there parks a goroutine and costs a context
// switch, and the lock's starvation mode then hands it from one parked
// goroutine to the next.
//
// The parking protocol is the classic three-state futex mutex: 0 unlocked,
// 1 locked, 2 locked and maybe contended. Parked goroutines wait on a
// one-slot channel; an unlock that saw 2 leaves one token there.
type spinLock struct {
	state atomic.Int32
	sema  chan struct{}
}

func (l *spinLock) init() { l.sema = make(chan struct{}, 1) }

// spinLoads bounds the spin: a few hundred nanoseconds, far longer than any
// critical section, far shorter than a park and wake-up.
const spinLoads = 200

// multiProcessor is whether spinning can help at all: with one processor
// the holder cannot run while we spin.
var multiProcessor = runtime.GOMAXPROCS(0) > 1

func (l *spinLock) Lock() {
	if l.state.CompareAndSwap(0, 1) {
		return
	}
	l.lockSlow()
}

func (l *spinLock) lockSlow() {
	if multiProcessor {
		for range spinLoads {
			if l.state.Load() == 0 && l.state.CompareAndSwap(0, 1) {
				return
			}
		}
	}
	// Mark the lock contended; whoever unlocks it then wakes one of us.
	for l.state.Swap(2) != 0 {
		<-l.sema
	}
}

func (l *spinLock) Unlock() {
	if l.state.Add(-1) == 0 {
		return
	}
	l.state.Store(0)
	select {
	case l.sema <- struct{}{}:
	default: // a token is already waiting: it wakes a goroutine
	}
}
