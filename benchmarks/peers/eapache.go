package peers

import (
	"io"

	"github.com/eapache/channels"

	"github.com/fanin-dev/fanin/internal/strategy"
	"github.com/fanin-dev/fanin/internal/wire"
)

// EapacheBatching fans in through eapache's BatchingChannel: producers send
// on its In channel, a goroutine of its own buffers them, and each receive
// from Out hands the consumer the whole buffer as one []interface{}, which
// it writes with one Write. Its buffer is bounded at the same item count as
// chan-batch's channel; Close closes In and Out delivers what is left.
type EapacheBatching struct{}

// Name implements strategy.Strategy.
func (EapacheBatching) Name() string { return "eapache-batching" }

// Limitations implements Peer.
func (EapacheBatching) Limitations() string {
	return "every message crosses two channels (unbuffered In, then the batch on Out) and an extra goroutine; " +
		"each batch is a new []interface{} (framed messages are boxed); no context"
}

// Prepare implements strategy.Strategy.
func (s EapacheBatching) Prepare(dst io.Writer, h wire.Header) (strategy.Run, error) {
	return prepare(s.Name(), s.fanIn, dst, h)
}

// Open implements Peer.
func (s EapacheBatching) Open(dst io.Writer, h wire.Header) (strategy.Feeder, error) {
	return open(s.Name(), s.fanIn, dst, h)
}

// fanIn builds the peer's fan-in in front of dst for run r: one
// constructor for both Prepare and Open.
func (s EapacheBatching) fanIn(r *strategy.Harness, dst io.Writer, h wire.Header) (fanIn, error) {
	ch := channels.NewBatchingChannel(queueCap)
	in, out := ch.In(), ch.Out()
	mode := h.Mode
	send := func(msg []byte) bool {
		in <- boxed(mode, msg)
		return true
	}
	// A batch holds at most queueCap messages, but in framed mode they may
	// exceed chan-batch's 64 KiB: the buffer then grows, as it must to keep
	// one write per batch.
	buf, _ := strategy.BatchBuffer(h)
	return fanIn{
		sender: func(int) strategy.SendFunc { return send },
		done:   ch.Close,
		consume: func() {
			failed := false
			// After a failure keep receiving (and discarding) until the last
			// producer, which sees the run stopped, closes the channel: no
			// producer stays blocked on In.
			for v := range out {
				if failed {
					continue
				}
				buf = buf[:0]
				for _, it := range v.([]any) {
					buf = append(buf, it.([]byte)...)
				}
				failed = !r.WriteBatch(buf)
			}
		},
	}, nil
}
