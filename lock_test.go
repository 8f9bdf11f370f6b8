package fanin

import (
	"sync"
	"testing"
)

// The lock excludes: many goroutines increment a plain counter under it, and
// none of the increments is lost (-race also checks the happens-before edges).
// Enough goroutines are used that some of them park.
func TestSpinLockExcludes(t *testing.T) {
	var l spinLock
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
	if !l.mu.TryLock() {
		t.Fatal("the lock is still held after the last Unlock")
	}
}
