package fanin

import (
	"runtime"
	"sync"
)

// spinLock is the queue's lock. Its critical sections last nanoseconds (an
// append and a few counters), so a goroutine that finds it held retries a
// few times, expecting the holder, running on another processor, to release
// it at once; only then does it queue on the mutex proper. sync.Mutex alone
// does not spin while other goroutines are runnable, which is exactly the
// case with thousands of producers: every collision there parks a goroutine.
// Falling back to sync.Mutex keeps its fairness: a goroutine that waited
// long (the consumer, say) gets the lock handed to it instead of losing to
// newcomers forever.
type spinLock struct {
	mu sync.Mutex
}

// spinTries bounds the retries: a few hundred nanoseconds, far longer than
// any critical section, far shorter than a park and wake-up.
const spinTries = 32

// multiProcessor is whether retrying can help at all: with one processor the
// holder cannot run while we retry.
var multiProcessor = runtime.GOMAXPROCS(0) > 1

func (l *spinLock) Lock() {
	if l.mu.TryLock() {
		return
	}
	if multiProcessor {
		for range spinTries {
			if l.mu.TryLock() {
				return
			}
		}
	}
	l.mu.Lock()
}

func (l *spinLock) Unlock() { l.mu.Unlock() }
