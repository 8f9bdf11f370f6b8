package peers

import (
	"io"

	"github.com/Workiva/go-datastructures/queue"

	"github.com/fanin-dev/fanin/internal/strategy"
	"github.com/fanin-dev/fanin/internal/wire"
)

// WorkivaRing fans in through Workiva's queue.RingBuffer, a bounded
// lock-free ring of interface{} whose Put and Get block (by looping on
// runtime.Gosched) while it is full or empty. The consumer Gets one
// message, then keeps Getting while Len says more are queued, into one
// write.
//
// The ring has no close that lets the reader drain: Dispose makes every
// later Get fail even with items queued. So the last producer Puts a nil
// sentinel, which the ring's FIFO order delivers after every message.
type WorkivaRing struct{}

// Name implements strategy.Strategy.
func (WorkivaRing) Name() string { return "workiva-ring" }

// Limitations implements Peer.
func (WorkivaRing) Limitations() string {
	return "Put/Get wait by spinning on runtime.Gosched, not parking; no close+drain (Dispose drops queued items): " +
		"the end is an in-band nil sentinel; items are interface{} (framed messages are boxed); no context"
}

// Prepare implements strategy.Strategy.
func (s WorkivaRing) Prepare(dst io.Writer, h wire.Header) (strategy.Run, error) {
	return prepare(s.Name(), s.fanIn, dst, h)
}

// Open implements Peer.
func (s WorkivaRing) Open(dst io.Writer, h wire.Header) (strategy.Feeder, error) {
	return open(s.Name(), s.fanIn, dst, h)
}

// fanIn builds the peer's fan-in in front of dst for run r: one
// constructor for both Prepare and Open.
func (s WorkivaRing) fanIn(r *strategy.Harness, dst io.Writer, h wire.Header) (fanIn, error) {
	rb := queue.NewRingBuffer(queueCap)
	// Dispose on failure releases producers waiting in Put (it returns
	// ErrDisposed), which is what it is for.
	r.SetAbort(rb.Dispose)
	mode := h.Mode
	send := func(msg []byte) bool {
		return rb.Put(boxed(mode, msg)) == nil
	}
	buf, room := strategy.BatchBuffer(h)
	return fanIn{
		sender: func(int) strategy.SendFunc { return send },
		done:   func() { _ = rb.Put(nil) },
		spins:  true,
		consume: func() {
			for {
				it, err := rb.Get()
				if err != nil || it == nil {
					return // disposed after a failure, or the end sentinel
				}
				buf = append(buf[:0], it.([]byte)...)
				end := false
				for len(buf) <= room && rb.Len() > 0 {
					// Len counts claimed slots, so this Get may wait for a Put
					// that is mid-way, never for one that has not started.
					if it, err = rb.Get(); err != nil {
						return
					}
					if it == nil {
						end = true
						break
					}
					buf = append(buf, it.([]byte)...)
				}
				if !r.WriteBatch(buf) || end {
					return
				}
			}
		},
	}, nil
}
