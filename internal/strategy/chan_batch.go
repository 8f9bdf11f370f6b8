package strategy

import (
	"io"

	"github.com/fanin-dev/fanin/internal/prefault"
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
	launchChan(r, ChanBatchConsumer(r))
	return r, nil
}

// BatchBuffer returns an empty batch buffer for a consumer of workload h,
// sized like chan-batch's (batchLimit, or the whole workload if smaller,
// and at least one message) and touched, so that its page faults are paid
// before the timed run. A message still fits while len(buf) <= room.
func BatchBuffer(h wire.Header) (buf []byte, room int) {
	limit := batchLimit
	if total := h.TotalBytes(); total < int64(limit) {
		limit = int(total)
	}
	limit = max(limit, h.Size)
	buf = make([]byte, 0, limit)
	prefault.Slice(buf)
	return buf, limit - h.Size
}

// ChanBatchConsumer is chan-batch's consumer, for Prepare, for a Feed, and
// for the peers' channel-shaped fan-ins: block for one message, take what
// is ready up to batchLimit bytes, write it with one Write. After a failed
// write it drains ch until it closes.
func ChanBatchConsumer(r *Harness) func(ch <-chan []byte) {
	buf, room := BatchBuffer(r.hdr)
	return func(ch <-chan []byte) {
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
