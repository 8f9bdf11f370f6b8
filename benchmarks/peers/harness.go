package peers

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/fanin-dev/fanin/internal/wire"
)

// This file is a small equivalent of internal/strategy's producer harness,
// which is unexported: the same producers making the same messages
// (wire.AppendMessage into a per-producer scratch buffer), the same start
// gate, the same error handling. Keeping it identical in shape matters:
// the peers must differ from the project's contestants only in the fan-in.

// sendFunc hands one message to a peer's fan-in. msg is the producer's
// scratch buffer, valid only during the call, so a fan-in that keeps it
// must copy it. Returning false stops the producer.
type sendFunc func(msg []byte) bool

// harness implements strategy.Run for every peer.
//
// A peer builds its fan-in, then calls launch with sender(p) (producer p's
// send, made in Prepare), producersDone (called once, by the last producer
// to return) and consume (the consumer's body, run after Start). If the
// peer's producers can block on something the consumer does not drain, it
// sets abort, which is called once on the first error and must release them.
type harness struct {
	name  string
	hdr   wire.Header
	dst   io.Writer
	start chan struct{}
	abort func()

	startOnce sync.Once
	wg        sync.WaitGroup
	live      atomic.Int64

	// stopped is read before every message; padded off other hot fields.
	_       [64]byte
	stopped atomic.Bool
	_       [64]byte

	errMu sync.Mutex
	errs  []error
}

func newHarness(name string, dst io.Writer, h wire.Header) (*harness, error) {
	if dst == nil {
		return nil, fmt.Errorf("peer %s: nil destination writer", name)
	}
	if err := h.Validate(); err != nil {
		return nil, fmt.Errorf("peer %s: %w", name, err)
	}
	return &harness{name: name, hdr: h, dst: dst, start: make(chan struct{})}, nil
}

// launch starts the producers and the consumer and returns once all of them
// are parked at the start gate, so goroutine creation stays untimed.
func (r *harness) launch(sender func(p int) sendFunc, producersDone func(), consume func()) {
	n := r.hdr.Producers
	var ready sync.WaitGroup
	ready.Add(n + 1)
	r.live.Store(int64(n))
	for p := range n {
		send := sender(p)
		r.wg.Go(func() { r.produce(p, send, &ready, producersDone) })
	}
	r.wg.Go(func() {
		ready.Done()
		<-r.start
		consume()
	})
	ready.Wait()
}

func (r *harness) produce(p int, send sendFunc, ready *sync.WaitGroup, producersDone func()) {
	h := r.hdr
	scratch := make([]byte, 0, h.Size)
	ready.Done()
	<-r.start
	for seq := range h.Messages {
		if r.stopped.Load() {
			break
		}
		scratch = wire.AppendMessage(scratch[:0], h, p, seq)
		if !send(scratch) {
			break
		}
	}
	if r.live.Add(-1) == 0 && producersDone != nil {
		producersDone()
	}
}

// Start releases every parked goroutine at once.
func (r *harness) Start() { r.startOnce.Do(func() { close(r.start) }) }

// Wait implies Start, so a prepared run can always be finished.
func (r *harness) Wait() error {
	r.Start()
	r.wg.Wait()
	r.errMu.Lock()
	defer r.errMu.Unlock()
	return errors.Join(r.errs...)
}

// fail records err; the first failure stops the producers and calls abort.
func (r *harness) fail(err error) {
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

// write writes b with one Write call; on failure it fails the run and
// returns false, and the caller must stop writing.
func (r *harness) write(b []byte) bool {
	n, err := r.dst.Write(b)
	if err == nil && n != len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		r.fail(fmt.Errorf("peer %s: write: %w", r.name, err))
		return false
	}
	return true
}

// batchLimit bounds one consumer write, as chan-batch's does (64 KiB, the
// sink's read buffer), so peers and contestants batch alike.
const batchLimit = 64 << 10

// queueCap is the item capacity of the bounded peer queues: chan-batch's
// channel capacity, so they hold the same number of messages.
const queueCap = 1024

// batchBuf returns the consumer's batch buffer, sized like chan-batch's and
// touched so its page faults are paid in Prepare, not in the timed run.
func (r *harness) batchBuf() (buf []byte, room int) {
	limit := batchLimit
	if total := r.hdr.TotalBytes(); total < int64(limit) {
		limit = int(total)
	}
	limit = max(limit, r.hdr.Size)
	buf = make([]byte, limit)
	for i := 0; i < len(buf); i += 4096 {
		buf[i] = 0
	}
	// A message fits while len(buf) <= room.
	return buf[:0], limit - r.hdr.Size
}

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
