package strategy

import (
	"io"
	"sync"

	"github.com/fanin-dev/fanin/internal/prefault"
	"github.com/fanin-dev/fanin/internal/wire"
)

// swapLimit bounds mutex-swap's shared buffer: producers wait once it holds
// this much, so memory stays bounded when the destination is slow.
const swapLimit = 1 << 20

// MutexSwap is the seed's actor B done right: one sync.Mutex guarding one
// buffer; producers lock, append, unlock; the consumer swaps the buffer with
// its cleared spare and writes the whole batch with one Write. Unlike the
// seed it clears the spare (no re-sent bytes), parks instead of spinning
// when there is nothing to send, and bounds the buffer. Its weakness, the
// one lock every producer meets, is what the library's designs attack.
type MutexSwap struct{}

// Name implements Strategy.
func (MutexSwap) Name() string { return "mutex-swap" }

// swapQueue is mutex-swap's shared state.
type swapQueue struct {
	mu       sync.Mutex
	buf      []byte
	limit    int
	parked   bool      // the consumer waits on notEmpty
	done     bool      // every producer has returned
	aborted  bool      // the run failed: producers must not wait or append
	notEmpty sync.Cond // the consumer waits here while buf is empty
	notFull  sync.Cond // producers wait here while buf is at the limit
}

// Prepare implements Strategy.
func (s MutexSwap) Prepare(dst io.Writer, h wire.Header) (Run, error) {
	r, err := NewHarness(s.Name(), dst, h)
	if err != nil {
		return nil, err
	}
	q, spare := newSwapQueue(r.hdr)
	r.abort = q.abort
	r.Launch(h.Producers, func(int) SendFunc { return q.push }, q.close, func() { q.consume(r, spare) })
	return r, nil
}

// push is a producer's send: lock, append, unlock; wake the consumer only if
// it is parked, so the common case is one uncontended-or-not lock and a copy.
func (q *swapQueue) push(msg []byte) bool {
	q.mu.Lock()
	for len(q.buf) >= q.limit && !q.aborted {
		q.notFull.Wait()
	}
	if q.aborted {
		q.mu.Unlock()
		return false
	}
	q.buf = append(q.buf, msg...)
	wake := q.parked
	q.parked = false
	q.mu.Unlock()
	if wake {
		q.notEmpty.Signal()
	}
	return true
}

// close is called by the last producer to return.
func (q *swapQueue) close() {
	q.mu.Lock()
	q.done = true
	wake := q.parked
	q.parked = false
	q.mu.Unlock()
	if wake {
		q.notEmpty.Signal()
	}
}

// abort releases producers waiting for room after the consumer failed.
func (q *swapQueue) abort() {
	q.mu.Lock()
	q.aborted = true
	q.mu.Unlock()
	q.notFull.Broadcast()
}

// consume swaps the filled buffer with the cleared spare under the lock and
// writes it outside the lock, until the producers are done and the buffer
// is empty, or a write fails.
func (q *swapQueue) consume(r *Harness, spare []byte) {
	for {
		q.mu.Lock()
		for len(q.buf) == 0 && !q.done {
			q.parked = true
			q.notEmpty.Wait()
		}
		full := q.buf
		if len(full) == 0 { // done and nothing left
			q.mu.Unlock()
			return
		}
		q.buf = spare[:0]
		q.mu.Unlock()
		// Producers wait only while the buffer is at the limit, and it only
		// grows until this swap: so nobody waits unless full reached it.
		if len(full) >= q.limit {
			q.notFull.Broadcast()
		}
		if !r.WriteBatch(full) {
			return
		}
		spare = full[:0]
	}
}

// newSwapQueue builds mutex-swap's queue and spare for workload h, for
// Prepare and for a Feed.
func newSwapQueue(h wire.Header) (*swapQueue, []byte) {
	limit := swapLimit
	if total := h.TotalBytes(); total < int64(limit) {
		limit = int(total)
	}
	q := &swapQueue{limit: limit, buf: make([]byte, 0, limit+h.Size)}
	q.notEmpty.L = &q.mu
	q.notFull.L = &q.mu
	spare := make([]byte, 0, limit+h.Size)
	prefault.Slice(q.buf)
	prefault.Slice(spare)
	return q, spare
}
