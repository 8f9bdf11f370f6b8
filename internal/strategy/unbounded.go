package strategy

import (
	"io"
	"sync"

	"github.com/fanin-dev/fanin/internal/wire"
)

// Unbounded is the "unbounded channel" design: producers send a copy of
// every message on a channel, a pump goroutine moves whatever arrives into a
// growing buffer, and a writer goroutine writes the whole buffer each time
// it is free. Producers never wait for the destination, so when it is
// slower than they are the buffer (and the heap) grows without limit: the
// failure mode the bounded contestants exist to avoid. Go has no unbounded
// channel; this is the usual way one is built.
type Unbounded struct{}

// Name implements Strategy.
func (Unbounded) Name() string { return "unbounded" }

// Prepare implements Strategy.
func (s Unbounded) Prepare(dst io.Writer, h wire.Header) (Run, error) {
	r, err := NewHarness(s.Name(), dst, h)
	if err != nil {
		return nil, err
	}
	launchChan(r, func(in <-chan []byte) { pumpUnbounded(r, in) })
	return r, nil
}

// pumpUnbounded is the unbounded design's consumer: it returns once in is
// closed and everything received has been written (or the run failed).
func pumpUnbounded(r *Harness, in <-chan []byte) {
	// Unbuffered: the writer takes the next batch only once it has written
	// the last, and everything in between piles up in pending.
	batches := make(chan []byte)
	var writer sync.WaitGroup
	writer.Go(func() {
		ok := true
		for b := range batches {
			// After a failure keep receiving, so the pump never blocks and
			// the producers (stopped by the harness) can finish.
			ok = ok && r.WriteBatch(b)
		}
	})
	var pending []byte
	for in != nil || len(pending) > 0 {
		var out chan<- []byte
		if len(pending) > 0 {
			out = batches
		}
		select {
		case m, open := <-in:
			if !open {
				in = nil
				continue
			}
			pending = append(pending, m...)
		case out <- pending:
			pending = nil // the writer owns it now; grow a new one
		}
	}
	close(batches)
	writer.Wait()
}

// Bound is the most a contestant buffers between its producers and its
// writer for workload h, in bytes, as configured: the figure its peak heap
// is compared with under overload. ok is false for the unbounded design, for
// direct (no producers, nothing buffered) and for unknown names.
func Bound(name string, h wire.Header) (bytes int64, ok bool) {
	switch name {
	case Fanin{}.Name(), FaninLanes{}.Name():
		return faninCapacity, true
	case MutexSwap{}.Name():
		return min(swapLimit, h.TotalBytes()), true
	case ChanSerial{}.Name(), ChanBatch{}.Name():
		// The channel's slots; in framed mode each holds a message of its own.
		return chanCap * int64(h.Size), true
	}
	return 0, false
}
