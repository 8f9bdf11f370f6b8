package strategy

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/fanin-dev/fanin"
	"github.com/fanin-dev/fanin/internal/wire"
)

// Feed serves the benchmark's scenarios (internal/bench/scenario.go): it
// opens a contestant's fan-in to producers the caller runs itself. The shared
// harness runs producers flat out for a fixed count; the scenarios need
// producers that keep a rate, stop at a deadline, or stay quiet, and they
// need to know exactly what each producer sent.

// Feeder is what the scenarios need of a design's fan-in: *Feed for the
// project's designs, and the peers module's feeds for other libraries, so
// that the scenarios measure both the same way.
type Feeder interface {
	// Send hands message msg of producer p to the fan-in; see Feed.Send.
	Send(p int, msg []byte) bool
	// Close finishes the run and returns its first error; see Feed.Close.
	Close() error
}

// FeedOpener opens one design's fan-in in front of dst for the workload h,
// with its consumer started, as OpenFeed does for the project's designs.
type FeedOpener func(dst io.Writer, h wire.Header) (Feeder, error)

var _ Feeder = (*Feed)(nil)

// FeedNames are the designs OpenFeed knows.
var FeedNames = []string{ChanBatch{}.Name(), MutexSwap{}.Name(), Fanin{}.Name(), FaninLanes{}.Name(), Unbounded{}.Name()}

// A Feed is one contestant's fan-in and consumer, open to producers that the
// caller runs: h.Producers of them, producer p calling Send(p, ...) from one
// goroutine at a time. The fan-in is the contestant's own (the library's
// Writer and lanes with the matrix's capacity, mutex-swap's queue, the
// channel contestants' sender), configured as in the matrix.
type Feed struct {
	r       *Harness
	senders []SendFunc
	done    func() // the producers are finished: called once, by Close
	closed  sync.Once
}

// OpenFeed opens the fan-in of the named design (one of FeedNames) in front
// of dst, for the workload h, and starts its consumer, which then waits for
// the first message as it does whenever producers are quiet. h.Messages
// only sizes buffers as Prepare does; a Feed does not count messages.
func OpenFeed(name string, dst io.Writer, h wire.Header) (*Feed, error) {
	r, err := NewHarness(name, dst, h)
	if err != nil {
		return nil, err
	}
	f := &Feed{r: r, senders: make([]SendFunc, h.Producers)}
	setAll := func(s SendFunc) {
		for p := range f.senders {
			f.senders[p] = s
		}
	}
	switch name {
	case Fanin{}.Name(), FaninLanes{}.Name():
		w := fanin.NewWriter(dst, fanin.WithCapacity(faninCapacity))
		var lanes []*fanin.Lane
		if name == (FaninLanes{}).Name() {
			for p := range f.senders {
				lane := w.Lane()
				lanes = append(lanes, lane)
				f.senders[p] = func(msg []byte) bool {
					_, err := lane.Write(msg)
					return err == nil
				}
			}
		} else {
			setAll(func(msg []byte) bool {
				_, err := w.Write(msg)
				return err == nil
			})
		}
		f.done = func() {
			for _, l := range lanes {
				l.Close()
			}
			if err := w.Close(); err != nil {
				r.Fail(fmt.Errorf("strategy %s: %w", name, err))
			}
		}
	case MutexSwap{}.Name():
		q, spare := newSwapQueue(r.hdr)
		r.abort = q.abort
		setAll(q.push)
		r.wg.Go(func() { q.consume(r, spare) })
		f.done = q.close
	case ChanBatch{}.Name(), Unbounded{}.Name():
		ch := make(chan []byte, chanCap)
		setAll(chanSender(ch, h.Mode))
		if name == (ChanBatch{}).Name() {
			consume := ChanBatchConsumer(r)
			r.wg.Go(func() { consume(ch) })
		} else {
			r.wg.Go(func() { pumpUnbounded(r, ch) })
		}
		f.done = func() { close(ch) }
	default:
		return nil, fmt.Errorf("strategy: no feed for %q (valid: %v)", name, FeedNames)
	}
	return f, nil
}

// NewFeed opens a Feed on a fan-in built outside this package (the peers
// module), from the same three parts Harness.Launch takes, so that a design
// builds its fan-in once for both: sender(p) is producer p's send function,
// producersDone is called once by Close, and consume, the consumer's body,
// starts now. r must be fresh (not launched).
func NewFeed(r *Harness, sender func(p int) SendFunc, producersDone func(), consume func()) *Feed {
	f := &Feed{r: r, senders: make([]SendFunc, r.hdr.Producers), done: producersDone}
	for p := range f.senders {
		f.senders[p] = sender(p)
	}
	if f.done == nil {
		f.done = func() {}
	}
	r.wg.Go(consume)
	return f
}

// Send hands message msg of producer p to the fan-in; msg may be reused as
// soon as Send returns. It reports false once the run has failed (the
// producer should stop); Close then returns the error.
func (f *Feed) Send(p int, msg []byte) bool {
	if f.r.stopped.Load() {
		return false
	}
	return f.senders[p](msg)
}

// Close is called once every producer has returned from its last Send: the
// consumer writes everything accepted, and Close returns when it has, with
// the first error of the run. Later calls return the same.
func (f *Feed) Close() error {
	f.closed.Do(func() {
		f.done()
		f.r.wg.Wait()
	})
	f.r.errMu.Lock()
	defer f.r.errMu.Unlock()
	return errors.Join(f.r.errs...)
}
