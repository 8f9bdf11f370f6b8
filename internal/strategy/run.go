package strategy

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/fanin-dev/fanin/internal/wire"
)

// SendFunc hands one message to a contestant's fan-in. msg is the producer's
// scratch buffer: it is only valid during the call, so a fan-in that keeps
// the message must copy it. Returning false stops the producer (the run has
// failed and the fan-in will not take more).
type SendFunc func(msg []byte) bool

// Harness is the part of a run that every contestant shares, so that only the
// fan-in differs between them: the same producer goroutines making the same
// messages into their own scratch buffers, the same start gate, the same
// error handling. It implements Run. Contestants outside this package (the
// peers module) use it too.
//
// A contestant builds its fan-in, then calls Launch with
//   - sender(p): producer p's send function (called in Prepare, so a
//     per-producer handle can be set up there, outside the timed region);
//   - producersDone: called once, by the last producer to return (finished
//     or stopped), typically to close a channel or wake the consumer;
//   - consume: the consumer's body, run on its own goroutine at once, so that
//     it waits for messages in its own way (parked on its channel, its
//     condition or its queue) when the producers are released, as a
//     long-lived consumer does when a burst begins; it writes through
//     WriteBatch and returns when every message is written or WriteBatch
//     has failed. With no producers (direct, whose consumer makes every
//     message), or after SpinningConsumer, it runs after Start.
//
// If the contestant's producers can block on something other than a
// channel the consumer drains, it calls SetAbort before Launch: the abort
// function is called once, on the first error, and must release them.
type Harness struct {
	name  string
	hdr   wire.Header
	dst   io.Writer
	start chan struct{}
	abort func()
	// gateConsumer holds the consumer at the start gate too.
	gateConsumer bool

	startOnce sync.Once
	wg        sync.WaitGroup
	live      atomic.Int64 // producers still running

	// stopped is read by every producer before every message and written
	// once; the padding keeps it off the cache lines of fields that change.
	_       [64]byte
	stopped atomic.Bool
	_       [64]byte

	errMu sync.Mutex
	errs  []error
}

// NewHarness validates what every contestant needs before it builds anything.
func NewHarness(name string, dst io.Writer, h wire.Header) (*Harness, error) {
	if dst == nil {
		return nil, fmt.Errorf("strategy %s: nil destination writer", name)
	}
	if err := h.Validate(); err != nil {
		return nil, fmt.Errorf("strategy %s: %w", name, err)
	}
	return &Harness{name: name, hdr: h, dst: dst, start: make(chan struct{})}, nil
}

// Launch starts n producers and one consumer and returns once every one of
// them has started (the producers are then at the start gate), so that
// goroutine creation and first scheduling stay outside the timed region. n
// may be 0 (direct has no producers; sender and producersDone are then
// unused).
func (r *Harness) Launch(n int, sender func(p int) SendFunc, producersDone func(), consume func()) {
	var ready sync.WaitGroup
	ready.Add(n + 1)
	r.live.Store(int64(n))
	for p := range n {
		send := sender(p)
		r.wg.Go(func() { r.produce(p, send, &ready, producersDone) })
	}
	r.wg.Go(func() {
		ready.Done()
		if n == 0 || r.gateConsumer {
			<-r.start
		}
		// Released with the producers instead, the consumer of a channel
		// or of a mutex and condition started last, behind them, and often
		// took the whole run in one write, while fanin's flusher, made
		// with its Writer, was parked already and woke at the first message.
		consume()
	})
	ready.Wait()
}

// produce is producer p: messages seq 0..N-1 in order, each made with
// wire.AppendMessage into the producer's own scratch buffer and handed to
// send. It stops early once the run has failed.
func (r *Harness) produce(p int, send SendFunc, ready *sync.WaitGroup, producersDone func()) {
	h := r.hdr
	scratch := make([]byte, 0, h.Size)
	ready.Done()
	<-r.start
	for seq := range h.Messages {
		if r.stopped.Load() {
			break
		}
		if h.Mode == wire.Byte {
			// What AppendMessage makes, inlined: its call would cost more
			// than some fan-ins it measures.
			scratch = append(scratch[:0], wire.ByteValue(seq))
		} else {
			scratch = wire.AppendMessage(scratch[:0], h, p, seq)
		}
		if !send(scratch) {
			break
		}
	}
	if r.live.Add(-1) == 0 && producersDone != nil {
		producersDone()
	}
}

// SpinningConsumer tells Launch that the consumer spins while it waits for
// messages, so that Launch holds it at the start gate with the producers:
// it then spins only while the run is timed. Call it before Launch.
func (r *Harness) SpinningConsumer() { r.gateConsumer = true }

// SetAbort sets the function that releases producers blocked outside a
// channel the consumer drains; see Harness.
func (r *Harness) SetAbort(abort func()) { r.abort = abort }

// Header returns the workload.
func (r *Harness) Header() wire.Header { return r.hdr }

// Start releases the parked producers at once (and a consumer held at the
// gate).
func (r *Harness) Start() {
	r.startOnce.Do(func() { close(r.start) })
}

// Wait implies Start: a prepared run cannot be abandoned any other way, and
// waiting on a run that never starts would hang.
func (r *Harness) Wait() error {
	r.Start()
	r.wg.Wait()
	r.errMu.Lock()
	defer r.errMu.Unlock()
	switch len(r.errs) {
	case 0:
		return nil
	case 1:
		return r.errs[0]
	default:
		return errors.Join(r.errs...)
	}
}

// Fail records err. The first failure stops the producers (at their next
// message) and calls abort to release any that are blocked.
func (r *Harness) Fail(err error) {
	r.errMu.Lock()
	r.errs = append(r.errs, err)
	first := len(r.errs) == 1
	r.errMu.Unlock()
	if first {
		r.stopped.Store(true)
		if r.abort != nil {
			r.abort()
		}
	}
}

// WriteBatch writes b to the destination with one Write call. On failure it
// records the error (failing the run) and returns false; the caller must
// then stop writing.
func (r *Harness) WriteBatch(b []byte) bool {
	n, err := r.dst.Write(b)
	if err == nil && n != len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		r.Fail(fmt.Errorf("strategy %s: write: %w", r.name, err))
		return false
	}
	return true
}
