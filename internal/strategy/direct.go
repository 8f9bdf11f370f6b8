package strategy

import (
	"io"

	"github.com/fanin-dev/fanin/internal/prefault"
	"github.com/fanin-dev/fanin/internal/wire"
)

// Direct is the limit every fan-in is measured against: no producer
// goroutines and no synchronisation at all. One goroutine makes every
// message (round-robin over the producers, each producer's messages in
// order) into one reused 64 KiB buffer and writes it whenever it is full.
// What remains is the cost of making the messages and of the destination.
type Direct struct{}

// Name implements Strategy.
func (Direct) Name() string { return "direct" }

// Prepare implements Strategy.
func (s Direct) Prepare(dst io.Writer, h wire.Header) (Run, error) {
	r, err := NewHarness(s.Name(), dst, h)
	if err != nil {
		return nil, err
	}
	chunk := batchLimit
	if total := r.hdr.TotalBytes(); total < int64(chunk) {
		chunk = int(total)
	}
	chunk = max(chunk, h.Size)
	buf := make([]byte, 0, chunk)
	prefault.Slice(buf)
	r.Launch(0, nil, nil, func() {
		h := r.hdr
		room := chunk - h.Size // a message fits while len(b) <= room
		b := buf[:0]
		for seq := range h.Messages {
			for p := range h.Producers {
				if h.Mode == wire.Byte { // inlined, as in Harness.produce
					b = append(b, wire.ByteValue(seq))
				} else {
					b = wire.AppendMessage(b, h, p, seq)
				}
				if len(b) > room {
					if !r.WriteBatch(b) {
						return
					}
					b = b[:0]
				}
			}
		}
		if len(b) > 0 {
			r.WriteBatch(b)
		}
	})
	return r, nil
}
