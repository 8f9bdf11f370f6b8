package strategy

import (
	"io"

	"github.com/fanin-dev/fanin/internal/wire"
)

// batchLimit bounds one chan-batch write (and direct's chunks): 64 KiB is
// the sink's read buffer, so a larger write buys nothing on loopback.
const batchLimit = 64 << 10

// ChanBatch keeps chan-serial's channel and producers but batches on the
// consumer side, like tokio's recv_many: block for one message, then take
// whatever is already queued (without blocking, up to batchLimit bytes) and
// write it all with one Write. It shows how far the channel alone goes once
// the syscall per message is gone.
type ChanBatch struct{}

// Name implements Strategy.
func (ChanBatch) Name() string { return "chan-batch" }

// Prepare implements Strategy.
func (s ChanBatch) Prepare(dst io.Writer, h wire.Header) (Run, error) {
	r, err := NewHarness(s.Name(), dst, h)
	if err != nil {
		return nil, err
	}
	launchChan(r, chanBatchConsumer(r))
	return r, nil
}

// chanBatchConsumer is chan-batch's consumer, for Prepare and for a Feed:
// block for one message, take what is ready up to batchLimit bytes, write it
// with one Write.
func chanBatchConsumer(r *Harness) func(ch <-chan []byte) {
	h := r.hdr
	limit := batchLimit
	if total := h.TotalBytes(); total < int64(limit) {
		limit = int(total)
	}
	limit = max(limit, h.Size)
	buf := make([]byte, 0, limit)
	prefault(buf)
	return func(ch <-chan []byte) {
		room := limit - h.Size // a message fits while len(buf) <= room
		for msg := range ch {
			buf = append(buf[:0], msg...)
		more:
			for len(buf) <= room {
				select {
				case m, ok := <-ch:
					if !ok {
						break more
					}
					buf = append(buf, m...)
				default:
					break more
				}
			}
			if !r.WriteBatch(buf) {
				drain(ch)
				return
			}
		}
	}
}
