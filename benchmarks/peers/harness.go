package peers

import (
	"bytes"
	"io"

	"github.com/fanin-dev/fanin/internal/strategy"
	"github.com/fanin-dev/fanin/internal/wire"
)

// The peers run in internal/strategy's Harness, like the project's own
// contestants: the same producers making the same messages, the same start
// gate, the same error handling. They differ only in the fan-in. This file
// holds what the peers share beyond that.

// queueCap is the item capacity of the bounded peer queues: chan-batch's
// channel capacity, so they hold the same number of messages.
const queueCap = 1024

// byteMsgs holds one 1-byte slice per value, and boxedMsgs the same slices
// already in interfaces: in byte mode a producer hands over one of these
// instead of allocating, exactly as chan-batch does, so the peers pay for
// their queue and not for the allocator. In framed mode each message is a
// fresh copy (and, for the interface{} queues, a fresh box): that is what
// code using these queues does.
var (
	byteValues [256]byte
	byteMsgs   [256][]byte
	boxedMsgs  [256]any
)

func init() {
	for i := range byteValues {
		byteValues[i] = byte(i)
		byteMsgs[i] = byteValues[i : i+1 : i+1]
		boxedMsgs[i] = byteMsgs[i]
	}
}

// item returns the slice a producer enqueues for msg.
func item(mode wire.Mode, msg []byte) []byte {
	if mode == wire.Byte {
		return byteMsgs[msg[0]]
	}
	return bytes.Clone(msg)
}

// boxed returns the interface value a producer enqueues for msg.
func boxed(mode wire.Mode, msg []byte) any {
	if mode == wire.Byte {
		return boxedMsgs[msg[0]]
	}
	return bytes.Clone(msg)
}

// fanIn is a peer's fan-in in the three parts that Harness.Launch and
// strategy.NewFeed take (see Harness): each peer builds it in one place, so
// the matrix (Prepare) and the scenarios (Open) measure the same code.
type fanIn struct {
	sender  func(p int) strategy.SendFunc
	done    func()
	consume func()
	spins   bool // the consumer spins while it waits: see Harness.SpinningConsumer
}

// builder is a peer's fanIn constructor.
type builder func(r *strategy.Harness, dst io.Writer, h wire.Header) (fanIn, error)

// prepare is every peer's Prepare: the fan-in run by the shared producers.
func prepare(name string, build builder, dst io.Writer, h wire.Header) (strategy.Run, error) {
	r, f, err := newFanIn(name, build, dst, h)
	if err != nil {
		return nil, err
	}
	if f.spins {
		r.SpinningConsumer()
	}
	r.Launch(h.Producers, f.sender, f.done, f.consume)
	return r, nil
}

// open is every peer's Open: the fan-in with its consumer started, for
// producers that the caller (a scenario) runs.
func open(name string, build builder, dst io.Writer, h wire.Header) (strategy.Feeder, error) {
	r, f, err := newFanIn(name, build, dst, h)
	if err != nil {
		return nil, err
	}
	return strategy.NewFeed(r, f.sender, f.done, f.consume), nil
}

// newFanIn builds a peer's fan-in on a fresh harness.
func newFanIn(name string, build builder, dst io.Writer, h wire.Header) (*strategy.Harness, fanIn, error) {
	r, err := strategy.NewHarness(name, dst, h)
	if err != nil {
		return nil, fanIn{}, err
	}
	f, err := build(r, dst, h)
	return r, f, err
}
