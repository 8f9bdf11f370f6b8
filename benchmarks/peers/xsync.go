package peers

import (
	"io"
	"runtime"
	"sync/atomic"

	"github.com/puzpuzpuz/xsync/v4"

	"github.com/fanin-dev/fanin/internal/strategy"
	"github.com/fanin-dev/fanin/internal/wire"
)

// XsyncMPMC fans in through xsync's MPMCQueue, a bounded lock-free ring
// (Vyukov's algorithm). Version 4 offers only TryEnqueue and TryDequeue;
// its README asks the user to supply the back-off and names
// runtime.Gosched as the basic one, which is what both sides do here. The
// consumer takes one message, then whatever else TryDequeue finds ready,
// into one write (chan-batch's shape).
type XsyncMPMC struct{}

// Name implements strategy.Strategy.
func (XsyncMPMC) Name() string { return "xsync-mpmc" }

// Limitations implements Peer.
func (XsyncMPMC) Limitations() string {
	return "no blocking enqueue/dequeue (v4 has only Try*): a full queue makes producers, an empty one the consumer, " +
		"spin on runtime.Gosched instead of parking; no close: the end is a done flag set by the last producer; no context"
}

// Prepare implements strategy.Strategy.
func (s XsyncMPMC) Prepare(dst io.Writer, h wire.Header) (strategy.Run, error) {
	return prepare(s.Name(), s.fanIn, dst, h)
}

// Open implements Peer.
func (s XsyncMPMC) Open(dst io.Writer, h wire.Header) (strategy.Feeder, error) {
	return open(s.Name(), s.fanIn, dst, h)
}

// fanIn builds the peer's fan-in in front of dst for run r: one
// constructor for both Prepare and Open.
func (s XsyncMPMC) fanIn(r *strategy.Harness, dst io.Writer, h wire.Header) (fanIn, error) {
	q := xsync.NewMPMCQueue[[]byte](queueCap)
	var done, aborted atomic.Bool
	r.SetAbort(func() { aborted.Store(true) })
	mode := h.Mode
	send := func(msg []byte) bool {
		it := item(mode, msg)
		for !q.TryEnqueue(it) {
			if aborted.Load() {
				return false
			}
			runtime.Gosched()
		}
		return true
	}
	buf, room := strategy.BatchBuffer(h)
	return fanIn{
		sender: func(int) strategy.SendFunc { return send },
		done:   func() { done.Store(true) },
		spins:  true,
		consume: func() {
			for {
				m, ok := q.TryDequeue()
				for !ok {
					// done is set after every enqueue has completed, and with
					// one consumer TryDequeue fails only on an empty queue: so
					// empty after done means finished.
					if done.Load() {
						if m, ok = q.TryDequeue(); !ok {
							return
						}
						break
					}
					runtime.Gosched()
					m, ok = q.TryDequeue()
				}
				buf = append(buf[:0], m...)
				for len(buf) <= room {
					if m, ok = q.TryDequeue(); !ok {
						break
					}
					buf = append(buf, m...)
				}
				if !r.WriteBatch(buf) {
					return // abort releases the producers; what is queued is dropped
				}
			}
		},
	}, nil
}
