package strategy

import (
	"bytes"
	"io"

	"github.com/fanin-dev/fanin/internal/wire"
)

// chanCap is the capacity of the channel in chan-serial and chan-batch. The
// seed used tokio's unbounded channel; Go has none, and an unbounded queue
// is what the project argues against anyway. 1024 slots let producers run
// well ahead of a consumer that is inside a write syscall, while bounding
// the queue to 1024 slice headers (24 KiB) plus, in framed mode, 1024
// messages. Both channel contestants use the same value so that they differ
// only in their consumer.
const chanCap = 1024

// byteMsgs holds one 1-byte slice per byte value, all pointing into
// byteValues: a byte-mode producer sends byteMsgs[v] instead of allocating,
// so chan-serial and chan-batch pay for the channel, not for the allocator.
var (
	byteValues [256]byte
	byteMsgs   [256][]byte
)

func init() {
	for i := range byteValues {
		byteValues[i] = byte(i)
		byteMsgs[i] = byteValues[i : i+1 : i+1]
	}
}

// chanSender is the producer side of both channel contestants. In framed
// mode each message is a fresh slice, which is what Go code sending
// messages over a channel does.
func chanSender(ch chan<- []byte, mode wire.Mode) SendFunc {
	if mode == wire.Byte {
		return func(msg []byte) bool {
			ch <- byteMsgs[msg[0]]
			return true
		}
	}
	return func(msg []byte) bool {
		ch <- bytes.Clone(msg)
		return true
	}
}

// launchChan wires a channel contestant into the harness. Producers never
// select on a stop channel (that would slow every send): instead a consumer
// that fails keeps draining ch until the last producer, which sees the run
// stopped at its next message, closes it. So no producer stays blocked.
func launchChan(r *Harness, consume func(ch <-chan []byte)) {
	ch := make(chan []byte, chanCap)
	send := chanSender(ch, r.hdr.Mode)
	r.Launch(r.hdr.Producers,
		func(int) SendFunc { return send },
		func() { close(ch) },
		func() { consume(ch) })
}

// drain discards what is left in ch after a failure, until it is closed.
func drain(ch <-chan []byte) {
	for range ch {
	}
}

// ChanSerial is the textbook Go fan-in and the seed's actor A: one buffered
// channel, one receive and one Write per message. It is the baseline whose
// one syscall per message the other contestants avoid.
type ChanSerial struct{}

// Name implements Strategy.
func (ChanSerial) Name() string { return "chan-serial" }

// Prepare implements Strategy.
func (s ChanSerial) Prepare(dst io.Writer, h wire.Header) (Run, error) {
	r, err := NewHarness(s.Name(), dst, h)
	if err != nil {
		return nil, err
	}
	launchChan(r, func(ch <-chan []byte) {
		for msg := range ch {
			if !r.WriteBatch(msg) {
				drain(ch)
				return
			}
		}
	})
	return r, nil
}
