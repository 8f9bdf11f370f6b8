package fanin

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
)

// A Writer is a concurrent io.Writer in front of one destination: any number
// of goroutines call Write, each call is one message, and a single flusher
// goroutine writes everything buffered to the destination in batches. A
// burst of messages costs one system call, not one each. To a *net.TCPConn
// or *net.UnixConn a batch is one vectored write (writev), and what lanes
// wrote goes out straight from their memory. To any other destination a
// batch is one Write call, or, if lanes wrote part of it and it is larger
// than 64 KiB, about one per 64 KiB: lane data is copied through a buffer of
// that size.
//
// A message is never interleaved with another: its bytes reach the
// destination contiguously (a message that straddles two Write calls of one
// batch is split between them, with nothing in between). Messages written
// by one goroutine, or through one Lane, reach it in order. At most the
// capacity in bytes (see WithCapacity) is buffered; writers park while it
// is full.
//
// When the destination fails, its first error, wrapped, is returned by every
// later Write, Flush and Close (errors.Is matches it), writers parked at that
// moment are released with it, and messages accepted but not written are
// counted in Stats.Undelivered.
//
// The capacity bounds the bytes accepted and not yet written, including the
// batch being written. A Writer must be made with NewWriter and closed with
// Close.
type Writer struct {
	q        *Queue[byte]
	dst      io.Writer
	vectored bool          // dst takes a vectored write: see NewWriter
	done     chan struct{} // closed when the flusher exits
	// The flusher's, for a vectored write: iov keeps the array, and unsent,
	// which WriteTo consumes, is a field so that taking its address does
	// not allocate.
	iov, unsent net.Buffers
	// The flusher's, for other destinations: lane data is copied here and
	// written a stage at a time. Made on first use.
	stage []byte

	mu   sync.Mutex
	cond sync.Cond // signalled after every batch, for Flush
	// Guarded by mu.
	written     uint64 // number of the last batch the flusher finished
	exited      bool   // the flusher has written everything and returned
	err         error  // the first destination error, wrapped
	delivered   uint64
	undelivered uint64
	bytes       uint64
	batches     uint64
}

// NewWriter returns a Writer that writes to dst and starts its flusher
// goroutine. Close stops it.
func NewWriter(dst io.Writer, opts ...Option) *Writer {
	w := &Writer{
		q:    newQueue[byte](newConfig(DefaultWriterCapacity, opts)),
		dst:  dst,
		done: make(chan struct{}),
	}
	// The two first buffers (the one writers fill and the one the flusher
	// writes) share one array, touched here: the pages of a fresh
	// allocation may not be mapped yet, and the first writes would take
	// the page faults, 3-4 µs each on the reference machine, as long as a
	// few hundred one-byte writes.
	first := min(w.q.capacity, writerFirstBuffer)
	bufs := make([]byte, 2*first)
	clear(bufs)
	w.q.buf = bufs[:0:first]
	// Lane data stays in the lanes' chunks until it is written: copied into
	// the batch, it would need a second array as large as the capacity.
	w.q.inPlace = true
	w.q.spinGather = multiProcessor
	// Room for the lane pieces of a few dozen lanes, made now: appended to
	// from nil by the first batches, they would allocate while the first
	// writes wait.
	w.q.segs = make([][]byte, 0, writerFirstPieces)
	w.iov = make(net.Buffers, 0, writerFirstPieces+1)
	switch dst.(type) {
	case *net.TCPConn, *net.UnixConn:
		// A byte stream whose WriteTo takes net.Buffers with one writev.
		w.vectored = true
	}
	w.cond.L = &w.mu
	go w.flush(bufs[first:first])
	return w
}

// Write writes p as one message. It copies p, so the caller may reuse it as
// soon as Write returns, and parks while the Writer is full. It returns
// len(p) and nil once p is accepted; ErrTooLarge if p is longer than the
// capacity; ErrClosed after Close; or the destination's error after it
// failed. An empty p is not a message: Write returns 0 and the Writer's
// error state.
func (w *Writer) Write(p []byte) (int, error) {
	if err := w.q.pushShared(noContext, p, 1); err != nil {
		return 0, err
	}
	return len(p), nil
}

// WriteContext is Write with a context: if ctx ends while the call is parked
// it returns ctx.Err() and p is not written.
func (w *Writer) WriteContext(ctx context.Context, p []byte) (int, error) {
	if err := w.q.pushShared(ctx, p, 1); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush returns once every message accepted before the call has been
// written to the destination, or with the destination's error.
func (w *Writer) Flush() error {
	target := w.q.requestDrain()
	w.mu.Lock()
	defer w.mu.Unlock()
	for w.written < target && w.err == nil && !w.exited {
		w.cond.Wait()
	}
	return w.err
}

// Close closes the Writer: later writes return ErrClosed, writes parked now
// are released with ErrClosed, and everything accepted is written. Close
// waits for the flusher to finish and returns the first destination error,
// or nil. It does not close the destination. Close is idempotent.
//
// Close waits for the destination's last Write: if that can block for long,
// bound it there (a write deadline on a net.Conn fails the Write, and Close
// then returns that error, with the rest counted as undelivered).
func (w *Writer) Close() error {
	w.q.Close()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Stats returns a snapshot of the Writer's counters: messages are Write
// calls, Delivered counts messages written to the destination, Bytes the
// bytes written.
func (w *Writer) Stats() Stats {
	s := w.q.Stats()
	w.mu.Lock()
	defer w.mu.Unlock()
	s.Delivered = w.delivered
	s.Undelivered = w.undelivered
	s.Bytes = w.bytes
	s.Batches = w.batches
	s.Buffered = s.Accepted - s.Delivered - s.Undelivered
	return s
}

// flush is the flusher goroutine: it drains batches and writes each with one
// call, until the queue is closed and empty. spare is the buffer it hands to
// the first drain.
func (w *Writer) flush(spare []byte) {
	defer close(w.done)
	var written int // elements of the last batch: their room is freed by the next drain
	var gather int
	for {
		b, err := w.q.drain(context.Background(), spare[:0], false, written, gather)
		if err != nil { // io.EOF: closed and empty
			w.exit()
			return
		}
		w.mu.Lock()
		failed := w.err != nil
		w.mu.Unlock()

		var werr error
		if !failed && b.elems > 0 { // an empty batch answers a Flush
			werr = w.write(b)
		}

		if werr != nil {
			// Fail the queue before anyone can see the error: a Write that
			// returns nil after Flush returned the error would be lost.
			werr = fmt.Errorf("fanin: writing to destination: %w", werr)
			w.q.shutdown(werr)
		}
		w.mu.Lock()
		switch {
		case failed:
			w.undelivered += b.msgs
		case werr != nil:
			// A message the destination took part of is not delivered, and
			// it cannot say which whole ones it took: count the batch.
			w.err = werr
			w.undelivered += b.msgs
		case b.elems > 0:
			w.delivered += b.msgs
			w.bytes += uint64(b.elems)
			w.batches++
		}
		w.written = b.seq
		// The last batch of a closed Writer: exit now, not after another
		// drain only to hear io.EOF, while Close waits.
		w.exited = b.last
		w.cond.Broadcast()
		w.mu.Unlock()
		if b.last {
			return
		}
		written = b.elems // written (or failed): the next drain frees the room
		spare = b.items
		gather = 0
		if b.laneOnly && b.elems < gatherBytes {
			gather = gatherBytes
		}
	}
}

// exit records that the flusher has written everything, for Flush.
func (w *Writer) exit() {
	w.mu.Lock()
	w.exited = true
	w.cond.Broadcast()
	w.mu.Unlock()
}

// write writes batch b to the destination: with one Write when it has no
// lane data, or nothing but one lane piece; else, to a vectored destination,
// with one vectored write (writev takes up to 1024 slices per system call);
// else through the stage.
func (w *Writer) write(b batch[byte]) error {
	switch {
	case len(b.segs) == 0:
		return w.writeAll(b.items)
	case len(b.segs) == 1 && len(b.items) == 0:
		// One piece: a plain write, which the kernel takes faster than a
		// vectored one.
		return w.writeAll(b.segs[0])
	case !w.vectored:
		return w.writeStaged(b)
	}
	if len(b.items) > 0 {
		w.iov = append(w.iov, b.items)
	}
	w.iov = append(w.iov, b.segs...)
	w.unsent = w.iov
	n, err := w.unsent.WriteTo(w.dst)
	clear(w.iov)
	w.iov, w.unsent = w.iov[:0], nil
	if err == nil && n < int64(b.elems) {
		err = io.ErrShortWrite
	}
	return err
}

// writeStaged writes batch b with one Write per stage: its pieces are copied
// into the stage, except a piece that fills a stage by itself, which is
// written as it is.
func (w *Writer) writeStaged(b batch[byte]) error {
	if w.stage == nil {
		w.stage = make([]byte, 0, min(w.q.capacity, stageSize))
	}
	stage := w.stage[:0]
	put := func(p []byte) error {
		if len(stage) == 0 && len(p) >= cap(stage) {
			return w.writeAll(p)
		}
		for len(p) > 0 {
			if len(stage) == cap(stage) {
				if err := w.writeAll(stage); err != nil {
					return err
				}
				stage = stage[:0]
			}
			k := copy(stage[len(stage):cap(stage)], p)
			stage, p = stage[:len(stage)+k], p[k:]
		}
		return nil
	}
	if err := put(b.items); err != nil {
		return err
	}
	for _, seg := range b.segs {
		if err := put(seg); err != nil {
			return err
		}
	}
	if len(stage) == 0 {
		return nil
	}
	return w.writeAll(stage)
}

// writeAll writes p with one Write call.
func (w *Writer) writeAll(p []byte) error {
	n, err := w.dst.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	return err
}

// stageSize is the most lane data a Writer copies for one Write call to a
// destination that takes no vectored write.
const stageSize = 64 << 10

// gatherBytes is what the flusher waits for the lanes to add before its next
// drain, when its last batch came from lanes alone, was smaller than this,
// and producers keep it busy (see Queue.drain). Lanes' producers running flat
// out otherwise get their messages written a few hundred bytes at a time, one
// producer's time slice each, and the writes and the sink's reads cost more
// than the messages. While the flusher waits, its CPU runs producers; lanes
// share no memory, so producers on every CPU do not slow each other. The
// shared path never waits: its producers would then contend for its lock
// from every CPU, which costs more than the writes saved (2.3x slower at
// 256-1024 producers, measured).
const gatherBytes = 16 << 10

// writerFirstPieces is how many lane pieces a new Writer's batches hold
// before their lists grow.
const writerFirstPieces = 64

// writerFirstBuffer is the capacity, in bytes, of a new Writer's two
// buffers (the one writers fill and the one the flusher writes), so that a
// short-lived Writer does not grow them from a few bytes, one allocation at
// a time.
const writerFirstBuffer = 4 << 10

// noContext is context.Background, held in a variable: passing it costs
// less than making it, which keeps Lane.Write small enough to inline.
var noContext = context.Background()

// A Lane is one writer's own path into a Writer: writing through a Lane
// takes no lock shared with other writers (see Producer). Messages written
// through one Lane reach the destination in order.
//
// A Lane is not safe for concurrent use. Close it when done; closing a Lane
// does not close the Writer.
type Lane struct {
	p Producer[byte] // in the Lane, not behind a pointer: one allocation per lane
}

// Lane returns a new lane into w.
func (w *Writer) Lane() *Lane {
	l := new(Lane)
	w.q.openLane(&l.p)
	return l
}

// Write writes p as one message; see Writer.Write.
func (l *Lane) Write(p []byte) (int, error) {
	if err := l.p.pushMessage(noContext, p, 1); err != nil {
		return 0, err
	}
	return len(p), nil
}

// WriteContext writes p as one message; see Writer.WriteContext.
func (l *Lane) WriteContext(ctx context.Context, p []byte) (int, error) {
	if err := l.p.pushMessage(ctx, p, 1); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close closes the lane. Messages written through it are still delivered.
// It is idempotent and returns nil.
func (l *Lane) Close() error {
	return l.p.Close()
}
