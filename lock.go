package fanin

import (
	"runtime"
	"sync/atomic"
)

// spinLock is the queue's lock. Its critical sections last nanoseconds (an
// append and a few counters) and never block, so a goroutine that finds it
// held spins, expecting the holder, running on another processor, to
// release it at once.
//
// Producers never park on it: if spinning fails (the holder was
// descheduled), they yield the processor and try again. A lock that parks
// its losers, like sync.Mutex, turns the collisions among thousands of
// producers into a convoy: once a waiter has waited a millisecond the mutex
// hands itself from one parked goroutine to the next, and every push pays
// for a goroutine switch.
//
// The consumer locks with LockFirst: it announces itself, producers keep
// off until it has had its turn, and if it must wait long it parks and the
// Unlock that frees the lock wakes it. Without that the consumer, one
// goroutine among thousands, would lose the lock to producers or, yielding,
// queue behind all of them while the queue fills up.
type spinLock struct {
	state atomic.Uint32 // lockHeld | lockWanted | lockParked
	wake  chan struct{} // to the parked LockFirst caller; made by init
}

const (
	lockHeld   = 1 << iota // someone holds the lock
	lockWanted             // a LockFirst caller waits: Lock keeps off
	lockParked             // it sleeps on wake: Unlock must wake it
)

// spinTries bounds a spin: a few hundred nanoseconds, far longer than any
// critical section, far shorter than a time slice.
const spinTries = 64

// multiProcessor is whether spinning can help at all: with one processor
// the holder cannot run while we spin.
var multiProcessor = runtime.GOMAXPROCS(0) > 1

func (l *spinLock) init() { l.wake = make(chan struct{}, 1) }

// Lock takes the lock.
func (l *spinLock) Lock() {
	if !l.state.CompareAndSwap(0, lockHeld) {
		l.lockSlow()
	}
}

func (l *spinLock) lockSlow() {
	for {
		for range spinTries {
			// Read before writing: a failing CAS would steal the cache line
			// from the holder and slow down its Unlock.
			if l.state.Load() == 0 && l.state.CompareAndSwap(0, lockHeld) {
				return
			}
			if !multiProcessor {
				break
			}
		}
		runtime.Gosched()
	}
}

// TryLock takes the lock if it is free, without waiting.
func (l *spinLock) TryLock() bool { return l.state.CompareAndSwap(0, lockHeld) }

// LockFirst takes the lock ahead of goroutines in Lock. At most one
// goroutine at a time may call it: the queue's consumer.
//
// It first spins like Lock. Only if that fails does it claim the next turn,
// which stalls the producers: the consumer locks once or twice per batch,
// and most of those collisions end as fast as a producer's.
func (l *spinLock) LockFirst() {
	if l.state.CompareAndSwap(0, lockHeld) {
		return
	}
	for tries := 0; ; tries++ {
		s := l.state.Load()
		switch {
		case s&lockHeld == 0:
			if l.state.CompareAndSwap(s, lockHeld) { // clears our claim
				return
			}
			continue
		case tries < spinTries && multiProcessor:
			continue
		case s&lockWanted == 0:
			l.state.CompareAndSwap(s, s|lockWanted)
			continue
		case tries < 2*spinTries && multiProcessor:
			continue
		}
		// The holder is not running: sleep until it unlocks.
		if l.state.CompareAndSwap(s, s|lockParked) {
			<-l.wake
		}
		tries = spinTries // keep the claim, spin again
	}
}

// Unlock releases the lock, keeping a LockFirst caller's claim. It
// subtracts rather than compares and swaps, which costs less: an atomic add
// cannot fail.
func (l *spinLock) Unlock() {
	if s := l.state.Add(^uint32(lockHeld - 1)); s != 0 {
		l.unlockSlow(s)
	}
}

// unlockSlow wakes the LockFirst caller if it sleeps. Nobody else changes
// the state meanwhile: the claim keeps Lock off, and the claimant sleeps.
func (l *spinLock) unlockSlow(s uint32) {
	if s&lockParked != 0 {
		l.state.And(^uint32(lockParked))
		l.wake <- struct{}{}
	}
}
