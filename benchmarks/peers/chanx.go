package peers

import (
	"context"
	"io"

	"github.com/smallnest/chanx"

	"github.com/fanin-dev/fanin/internal/strategy"
	"github.com/fanin-dev/fanin/internal/wire"
)

// ChanxUnbounded fans in through smallnest/chanx's UnboundedChan: sends on
// In never block for long, because a goroutine of its own moves whatever
// Out cannot take into a growing ring buffer. The consumer receives one
// message from Out, then what else is ready, into one write (chan-batch's
// shape). Its In and Out start at chan-batch's channel capacity.
type ChanxUnbounded struct{}

// Name implements strategy.Strategy.
func (ChanxUnbounded) Name() string { return "chanx-unbounded" }

// Limitations implements Peer.
func (ChanxUnbounded) Limitations() string {
	return "unbounded: a slow sink makes its buffer grow without limit (producers are never held back); " +
		"cancelling its context closes Out and drops what is buffered, and leaves senders on a full In blocked"
}

// Prepare implements strategy.Strategy.
func (s ChanxUnbounded) Prepare(dst io.Writer, h wire.Header) (strategy.Run, error) {
	return prepare(s.Name(), s.fanIn, dst, h)
}

// Open implements Peer.
func (s ChanxUnbounded) Open(dst io.Writer, h wire.Header) (strategy.Feeder, error) {
	return open(s.Name(), s.fanIn, dst, h)
}

// fanIn builds the peer's fan-in in front of dst for run r: one
// constructor for both Prepare and Open.
func (s ChanxUnbounded) fanIn(r *strategy.Harness, dst io.Writer, h wire.Header) (fanIn, error) {
	// The context is never cancelled: closing In is chanx's way to finish
	// (Out then delivers everything and closes); cancelling would drop data.
	ch := chanx.NewUnboundedChan[[]byte](context.Background(), queueCap)
	in, out := ch.In, ch.Out
	mode := h.Mode
	send := func(msg []byte) bool {
		in <- item(mode, msg)
		return true
	}
	consume := strategy.ChanBatchConsumer(r) // it drains Out after a failure
	return fanIn{
		sender:  func(int) strategy.SendFunc { return send },
		done:    func() { close(in) },
		consume: func() { consume(out) },
	}, nil
}
