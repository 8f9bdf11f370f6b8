package fanin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

var (
	// ErrClosed is returned by a push or write after Close, and by one that
	// was parked when Close was called.
	ErrClosed = errors.New("fanin: closed")
	// ErrFull is returned by TryPush when the buffer has no room.
	ErrFull = errors.New("fanin: full")
	// ErrTooLarge is returned for a message or batch that could never fit:
	// a Writer message longer than the Writer's capacity, or a PushBatch
	// longer than the Queue's capacity.
	ErrTooLarge = errors.New("fanin: message larger than capacity")
)

// A Queue is a bounded many-to-one queue: any number of goroutines push
// messages, one consumer takes everything buffered at once with Drain.
//
// Messages pushed by one goroutine, or through one Producer, are delivered in
// the order they were pushed; across producers no order is promised. Every
// accepted message is delivered exactly once. At most the capacity (see
// WithCapacity) is buffered; producers park while it is full, the consumer
// parks while it is empty, and nothing spins.
//
// A Queue must be made with NewQueue. Its methods are safe for concurrent use;
// Drain calls are serialised.
type Queue[T any] struct {
	capacity int
	maxDelay time.Duration
	inPlace  bool // a Writer's: lanes are read as slices of their chunks, not copied
	laneMax  int  // most credit a Producer reserves at once
	maxChunk int  // elements per lane chunk while few lanes are open
	// spinGather is a Writer's on more than one processor: a busy consumer
	// lets a small shared-path batch grow (see spinGatherLocked).
	spinGather bool

	// closed is set once pushes fail (Close, or a Writer's destination
	// failed). The lanes' lock-free fast path reads it on every push, so it
	// has cache lines of its own.
	_      cacheLinePad
	closed atomic.Bool
	_      cacheLinePad

	// wake carries one wake-up to a parked consumer.
	wake chan struct{}

	// consumer serialises Drain calls: lanes are single-consumer.
	consumer sync.Mutex
	// Consumer-owned, guarded by consumer.
	again      []*Producer[T]
	recycled   []*chunk[T]
	held       []*chunk[T] // read into the last batch's segs: pooled by the next drain
	segs       [][]T       // the last batch's segs, for their array
	timer      *time.Timer
	busyDrains int           // drains in a row that found messages waiting
	idleKick   chan struct{} // to the idleWaker goroutine, started by the first gather
	perLane    int           // elements per lane in the last batch read from lanes
	onSpin     func()        // for tests: called as spinGatherLocked starts, with mu released; set under mu

	// mu has cache lines of its own. Producers waiting for it spin on its
	// word; on the line of the fields it guards, every store the holder
	// makes to them would take the line back from the spinners first. The
	// shared path was 13-20% faster with the padding when the host's
	// cross-CPU round trip was slow, and 1-2% faster otherwise.
	_  cacheLinePad
	mu spinLock
	_  cacheLinePad
	// Guarded by mu.
	buf         []T            // shared-path messages in arrival order
	bufMsgs     uint64         // messages in buf
	free        int            // credit nobody holds: capacity minus buffered and reserved
	ready       []*Producer[T] // lanes with published messages not yet read
	readySpare  []*Producer[T] // ready's other array; nil while drain reads the lanes of the last one
	waiters     waitList       // producers parked for credit, first come first served
	lanes       laneSet[T]     // open Producers, for Stats and Len
	chunks      []*chunk[T]    // recycled lane chunks
	chunkLen    int            // elements in a new lane chunk: see sizeChunksLocked
	closeErr    error          // why pushes fail: nil while open
	parked      bool           // the consumer waits on wake
	lingering   bool           // the consumer waits out maxDelay, or gathers
	urgent      bool           // cut the current linger short
	gather      int            // lane elements a gathering consumer waits for; 0: not gathering
	gatherLanes int            // or this many ready lanes (gather at perLane each)
	grown       int            // lane elements in chunks added since the last drain
	idleKicked  bool           // idleKick was sent and the waker has not answered yet
	drainWanted bool           // take a batch even if it is empty (Writer.Flush)
	unreleased  int            // elements drained without release (a Writer's batch being written)
	eof         bool           // Drain returned io.EOF: nothing is read again
	drains      uint64         // batches taken
	accepted    uint64         // messages drained from buf, and accepted by closed lanes
	delivered   uint64
	maxBatch    uint64
	waits       uint64
}

// NewQueue returns an empty, open Queue.
func NewQueue[T any](opts ...Option) *Queue[T] {
	c := newConfig(DefaultQueueCapacity, opts)
	return newQueue[T](c)
}

func newQueue[T any](c config) *Queue[T] {
	q := &Queue[T]{
		capacity: c.capacity,
		maxDelay: c.maxDelay,
		laneMax:  max(1, min(c.capacity/64, 1<<16)),
		maxChunk: max(minChunk, min(c.capacity/1024, 4096)),
		wake:     make(chan struct{}, 1),
		// Not nil: openLane tells a spare that drain holds by nil.
		readySpare: make([]*Producer[T], 0),
		free:       c.capacity,
	}
	q.chunkLen = q.maxChunk
	q.mu.init()
	return q
}

// Push adds v to the queue, parking while the queue is full.
//
// It returns nil once v is accepted; ErrClosed if the queue is closed, or
// closes while Push is parked; or ctx.Err() if ctx ends while Push is parked,
// in which case v is not enqueued. Like a semaphore's Acquire, Push may
// succeed without parking even if ctx is already done.
func (q *Queue[T]) Push(ctx context.Context, v T) error {
	// The common case first, as in pushShared.
	if q.mu.TryLock() {
		if l := len(q.buf); q.roomLocked(1) && l < cap(q.buf) {
			q.free--
			q.buf = q.buf[:l+1]
			q.buf[l] = v
			q.bufMsgs++
			q.unlockWaking()
			return nil
		}
		q.mu.Unlock()
	}
	return q.pushSlow(ctx, v)
}

// TryPush adds v if there is room now. It never parks: it returns nil,
// ErrFull or ErrClosed.
func (q *Queue[T]) TryPush(v T) error {
	q.mu.Lock()
	var err error
	switch {
	case q.closeErr != nil:
		err = q.closeErr
	case q.free < 1 || !q.waiters.empty():
		err = ErrFull
	default:
		q.free--
		q.appendLocked(v)
	}
	q.unlockWaking()
	return err
}

// PushBatch adds all of vs, contiguous and in order (no other producer's
// message lands between them), parking until there is room for all of them.
// On error none of vs is enqueued: ErrTooLarge if len(vs) exceeds the
// capacity, ErrClosed, or ctx.Err(). PushBatch does not retain vs.
func (q *Queue[T]) PushBatch(ctx context.Context, vs []T) error {
	return q.pushShared(ctx, vs, uint64(len(vs)))
}

// pushShared appends vs as msgs messages on the shared path.
//
// The common case comes first and is written out, so that it compiles to a
// few instructions between the lock's two atomic operations: the lock is
// free, the queue open, with room and nobody parked ahead, and buf's array
// has room. Anything else, including a lock to wait for, takes the slow
// path, so that the fast one makes no call that would make it save its
// arguments on the stack first.
func (q *Queue[T]) pushShared(ctx context.Context, vs []T, msgs uint64) error {
	n := len(vs)
	if n > 0 && q.mu.TryLock() {
		if l := len(q.buf); q.roomLocked(n) && cap(q.buf)-l >= n {
			q.free -= n
			q.buf = q.buf[:l+n]
			if n == 1 { // a one-byte Write: no memmove call
				q.buf[l] = vs[0]
			} else {
				copy(q.buf[l:], vs)
			}
			q.bufMsgs += msgs
			q.unlockWaking()
			return nil
		}
		q.mu.Unlock()
	}
	return q.pushSharedSlow(ctx, vs, msgs)
}

func (q *Queue[T]) pushSharedSlow(ctx context.Context, vs []T, msgs uint64) error {
	n := len(vs)
	if n == 0 {
		return q.Err()
	}
	if n > q.capacity {
		return q.tooLarge(n)
	}
	q.mu.Lock()
	if q.roomLocked(n) {
		q.free -= n
	} else if _, err := q.waitLocked(ctx, n, n); err != nil {
		return err // waitLocked unlocked mu
	}
	if l := len(q.buf); cap(q.buf)-l >= n {
		q.buf = q.buf[:l+n]
		copy(q.buf[l:], vs)
	} else {
		q.growLocked(vs)
	}
	q.bufMsgs += msgs
	q.unlockWaking()
	return nil
}

// roomLocked reports whether a shared-path push of n elements may take its
// credit now: the queue is open and has the room, and nobody is parked for
// room ahead of it (first come, first served).
func (q *Queue[T]) roomLocked(n int) bool {
	return q.closeErr == nil && q.free >= n && q.waiters.empty()
}

// Err returns nil while the queue is open, else the error pushes get.
func (q *Queue[T]) Err() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closeErr
}

func (q *Queue[T]) pushSlow(ctx context.Context, v T) error {
	q.mu.Lock()
	if q.roomLocked(1) {
		q.free--
	} else if _, err := q.waitLocked(ctx, 1, 1); err != nil {
		return err // waitLocked unlocked mu
	}
	q.appendLocked(v)
	q.unlockWaking()
	return nil
}

// appendLocked adds one message whose credit the caller has taken. While
// buf's array has room it reslices buf: append would store the array's
// pointer back, with a write barrier check, on every push.
func (q *Queue[T]) appendLocked(v T) {
	if l := len(q.buf); l < cap(q.buf) {
		q.buf = q.buf[:l+1]
		q.buf[l] = v
	} else {
		q.growLocked([]T{v})
	}
	q.bufMsgs++
}

// growLocked appends vs to buf, whose array has no room for them.
func (q *Queue[T]) growLocked(vs []T) {
	oldCap := cap(q.buf)
	q.buf = append(q.buf, vs...)
	q.fitLocked(oldCap)
}

// fitLocked caps buf at the capacity after append grew it past: buf never
// holds more, and append would grow a large buf by a quarter at a time, so
// a Writer's two arrays could reach 1.25 times the capacity each. It runs
// at most once per array: a spare of the caller's that is larger already
// is kept as it is.
func (q *Queue[T]) fitLocked(oldCap int) {
	if c := cap(q.buf); c == oldCap || c <= q.capacity {
		return
	}
	fit := make([]T, len(q.buf), q.capacity)
	copy(fit, q.buf)
	q.buf = fit
}

// unlockWaking releases mu, then wakes the consumer if it is parked waiting
// for messages. The wake-up is sent after the unlock because it can cost a
// system call (to start a thread for the consumer's goroutine), and every
// producer would wait for it.
func (q *Queue[T]) unlockWaking() {
	wake := q.parked
	q.parked = false
	q.mu.Unlock()
	if wake {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// hurryLocked ends a linger early: a producer is waiting for room, or the
// queue is closing or being flushed.
func (q *Queue[T]) hurryLocked() {
	q.urgent = true
	q.stopLingerLocked()
}

// stopLingerLocked wakes the consumer if it lingers.
func (q *Queue[T]) stopLingerLocked() {
	if q.lingering {
		q.lingering = false
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
}

// waitLocked parks the caller, which holds mu, until it is granted at least
// need and at most want credits, the queue closes, or ctx ends. It returns
// with mu held and the grant taken from free on success, and with mu
// released on error.
func (q *Queue[T]) waitLocked(ctx context.Context, need, want int) (int, error) {
	if q.closeErr != nil {
		err := q.closeErr
		q.mu.Unlock()
		return 0, err
	}
	w := q.waiters.get(need, want)
	q.waiters.push(w)
	q.waits++
	// A lingering consumer is hurried when the queue runs short, not on
	// every wait: lanes also wait when others are waiting (first come, first
	// served) with room to spare, and with thousands of lanes that is often.
	// Cutting every gather short for them cost 30% at 8192 lanes.
	if q.maxDelay > 0 || q.free < q.capacity/4 {
		q.hurryLocked()
	}
	q.grantLocked() // the queue may have room, with waiters ahead of us that cannot use it
	q.mu.Unlock()

	if done := ctx.Done(); done == nil {
		// A context that never ends (Write's): a plain receive, whose frames
		// are half a select's. A new goroutine's first park then fits in
		// its first stack, which otherwise it grows (and copies) here.
		<-w.ready
		q.mu.Lock()
	} else if !q.sleep(done, w) {
		return 0, ctx.Err() // sleep unlocked mu
	}
	granted, err := w.granted, w.err
	q.waiters.put(w)
	if err == nil && q.closeErr != nil {
		q.free += granted
		err = q.closeErr
	}
	if err != nil {
		q.mu.Unlock()
		return 0, err
	}
	return granted, nil
}

// sleep waits until waiter w is woken or done is closed, for waitLocked. It
// returns true with mu held if w was woken, and false with mu released if
// done was closed first: then w has left the queue.
func (q *Queue[T]) sleep(done <-chan struct{}, w *waiter) bool {
	select {
	case <-w.ready:
		q.mu.Lock()
		return true
	case <-done:
	}
	q.mu.Lock()
	select {
	case <-w.ready:
		// Granted or closed while we noticed done: take the outcome, as if
		// done had been closed a moment later.
		return true
	default:
	}
	q.waiters.remove(w)
	q.waiters.put(w)
	q.grantLocked() // those behind us may fit now
	q.mu.Unlock()
	return false
}

// tooLarge is the error for n elements that could never fit. It is a
// function of its own so that the frames of the pushes that call it stay
// small: they park, and a new goroutine's stack is 2 KiB.
func (q *Queue[T]) tooLarge(n int) error {
	return fmt.Errorf("%w: %d > %d", ErrTooLarge, n, q.capacity)
}

// grantLocked hands free credit to parked producers, first come first
// served. A producer is woken with all it asked for, or, if less is free,
// only once no more room is on its way back. Woken with a sliver, a lane
// pushes a few messages and parks again, behind every goroutine ready to
// run, and its few bytes make the next batch, whose release makes the next
// sliver: BenchmarkLanesAgainstTheBound (8192 lanes, 1 MiB) had runs of
// 5-29 ns/msg against its usual 3-4, with 2.4-2.8 parks per lane.
func (q *Queue[T]) grantLocked() {
	for {
		w := q.waiters.front()
		if w == nil {
			return
		}
		if q.free < w.need {
			return
		}
		g := min(max(w.need, min(w.want, q.free/4)), q.free)
		if g < w.want && q.roomComingLocked() {
			return
		}
		q.free -= g
		q.waiters.remove(w)
		w.granted = g
		w.ready <- struct{}{}
	}
}

// releaseLocked returns n credits and wakes whoever they let in.
func (q *Queue[T]) releaseLocked(n int) {
	q.free += n
	q.grantLocked()
}

// Close closes the queue: later pushes, and pushes parked now, return
// ErrClosed. Messages already accepted stay buffered: Drain returns them, then
// io.EOF. Close is idempotent, may be called from any goroutine, and returns
// nil.
func (q *Queue[T]) Close() error {
	q.shutdown(ErrClosed)
	return nil
}

// shutdown makes every later push fail with err (the first reason wins,
// except that a failure replaces a plain close) and releases parked producers.
func (q *Queue[T]) shutdown(err error) {
	q.mu.Lock()
	if q.closeErr != nil && (q.closeErr != ErrClosed || err == ErrClosed) {
		q.mu.Unlock()
		return
	}
	q.closeErr = err
	q.closed.Store(true)
	for w := q.waiters.front(); w != nil; w = q.waiters.front() {
		q.waiters.remove(w)
		w.err = err
		w.ready <- struct{}{}
	}
	q.hurryLocked()
	q.unlockWaking()
}

// Drain parks until at least one message is buffered, then returns every
// buffered message as one batch. The batch reuses spare's array when it is
// large enough, so a consumer that hands each batch back as the next spare
// allocates nothing in steady state; the batch is the caller's until then.
//
// After Close, Drain returns what is left, then (nil, io.EOF) on every later
// call. If ctx ends first it returns (nil, ctx.Err()) and nothing is lost.
// Concurrent Drain calls are serialised.
func (q *Queue[T]) Drain(ctx context.Context, spare []T) ([]T, error) {
	b, err := q.drain(ctx, spare[:0], true, 0, 0)
	return b.items, err
}

// batch is what one drain took.
type batch[T any] struct {
	items    []T
	segs     [][]T  // an inPlace queue's lane elements, after items
	msgs     uint64 // messages in items and segs
	seq      uint64 // this batch's number: 1, 2, ...
	elems    int    // elements taken, including lane elements
	laneOnly bool   // every element came from lanes
	last     bool   // the queue is closed and this batch emptied it: Drain returns io.EOF next
}

// With release false the batch keeps its room in the queue until the caller
// gives it back, with release or as the next drain's done: a Writer counts
// the batch it is writing against its capacity.
//
// With gather > 0, a consumer kept busy (it found messages waiting on its
// last gatherAfter drains) first waits, up to gatherDelay, until the lanes
// hold about gather more elements: see gatheredLocked and Writer's
// gatherBytes.
func (q *Queue[T]) drain(ctx context.Context, spare []T, release bool, done int, gather int) (batch[T], error) {
	q.consumer.Lock()
	defer q.consumer.Unlock()

	q.mu.LockFirst()
	if done > 0 {
		q.unreleased -= done
		q.releaseLocked(done)
	}
	if len(q.held) > 0 { // the batch that pointed into them is written
		q.held = q.poolChunksLocked(q.held)
	}
	busy := true
	for len(q.buf) == 0 && len(q.ready) == 0 && !q.drainWanted {
		busy = false
		if q.closeErr != nil {
			q.eof = true
			q.mu.Unlock()
			q.stopIdleWaker()
			return batch[T]{}, io.EOF
		}
		q.parked = true
		q.mu.Unlock()
		if done := ctx.Done(); done == nil {
			<-q.wake // a plain receive costs less than a select
		} else {
			select {
			case <-q.wake:
			case <-done:
				q.mu.LockFirst()
				q.parked = false
				q.mu.Unlock()
				return batch[T]{}, ctx.Err()
			}
		}
		q.mu.LockFirst()
	}
	if busy {
		q.busyDrains++
	} else {
		q.busyDrains = 0
	}
	switch {
	case q.urgent || q.closeErr != nil:
	case q.maxDelay > 0:
		q.lingerLocked(ctx, q.maxDelay)
	case gather > 0 && q.busyDrains >= gatherAfter && len(q.buf) == 0:
		q.gatherLocked(ctx, gather)
	case q.spinGather && q.busyDrains >= gatherAfter && len(q.ready) == 0 && len(q.buf) < spinGatherBytes:
		q.spinGatherLocked()
	}
	q.grown = 0
	q.urgent = false
	q.drainWanted = false

	// Take the shared buffer whole and leave the spare in its place.
	b := batch[T]{items: q.buf, msgs: q.bufMsgs}
	q.accepted += q.bufMsgs
	q.buf, q.bufMsgs = spare, 0
	q.drains++
	b.seq = q.drains
	b.elems = len(b.items)
	ready := q.ready
	shared := len(b.items)
	b.laneOnly = shared == 0 && len(ready) > 0
	if len(ready) == 0 {
		// No lanes to read: one critical section is enough.
		return q.handOverLocked(b, release), nil
	}
	q.ready, q.readySpare = q.readySpare, nil // see readingLocked
	q.mu.Unlock()

	// Read the lanes outside the lock: each is single-producer,
	// single-consumer, and its producer never waits for us.
	again := q.again[:0]
	b.segs = q.segs[:0]
	for _, p := range ready {
		n, m := p.read(&b, q)
		b.elems += n
		b.msgs += m
		if p.unqueue() {
			again = append(again, p) // it published while we read: keep it ready
		}
	}
	q.perLane = (b.elems - shared) / len(ready)
	q.segs = b.segs
	clear(ready)

	q.mu.LockFirst()
	q.readySpare = ready[:0]
	if cap(q.readySpare) < cap(q.ready) { // lanes opened while we read
		q.readySpare = make([]*Producer[T], 0, cap(q.ready))
	}
	q.ready = append(q.ready, again...)
	clear(again)
	q.again = again[:0]
	if len(q.recycled) > 0 {
		q.recycled = q.poolChunksLocked(q.recycled)
	}
	return q.handOverLocked(b, release), nil
}

// handOverLocked counts batch b as taken (see tookLocked), marks it the last
// if the queue is closed and nothing is left, releases mu and returns b.
// After the last batch nothing is read (see eof), so that a consumer may stop
// without a drain that only returns io.EOF.
func (q *Queue[T]) handOverLocked(b batch[T], release bool) batch[T] {
	q.tookLocked(b, release)
	b.last = q.closeErr != nil && len(q.buf) == 0 && len(q.ready) == 0
	if b.last {
		q.eof = true
	}
	q.mu.Unlock()
	if b.last {
		q.stopIdleWaker()
	}
	return b
}

// stopIdleWaker stops the idle waker goroutine, if it runs: the consumer has
// read for the last time.
func (q *Queue[T]) stopIdleWaker() {
	if q.idleKick != nil {
		close(q.idleKick) // the idle waker returns
		q.idleKick = nil
	}
}

// poolChunksLocked keeps the lane chunks cs for reuse, up to the capacity's
// worth, and returns cs cleared and emptied. A chunk of another length than
// new ones get is left to the garbage collector: it was made for another
// number of lanes.
func (q *Queue[T]) poolChunksLocked(cs []*chunk[T]) []*chunk[T] {
	keep := q.capacity / q.chunkLen
	for _, c := range cs {
		if len(q.chunks) < keep && len(c.items) == q.chunkLen {
			q.chunks = append(q.chunks, c)
		}
	}
	clear(cs)
	return cs[:0]
}

// sizeChunksLocked sets the length of new lane chunks for the number of open
// lanes. Each lane holds a chunk it has not filled yet: memory the capacity
// does not account for. Chunks shrink as lanes open, so that this stays
// within a quarter of the capacity, but not below minShrunkChunk elements:
// a lane takes the queue's lock each time it fills a chunk, and a new
// Writer's lanes allocate their chunks while they run. With 256 and 512
// bytes, fanin-lanes was 16-32% slower at 1024 lanes (1 MiB, byte mode).
func (q *Queue[T]) sizeChunksLocked() {
	q.chunkLen = min(q.maxChunk, max(minShrunkChunk, q.capacity/(4*max(1, len(q.lanes.all)))))
}

// minChunk is the shortest lane chunk, in elements, and minShrunkChunk the
// shortest that sizeChunksLocked shrinks chunks to.
const (
	minChunk       = 64
	minShrunkChunk = 1024
)

// tookLocked counts batch b as drained, and frees its room if release.
func (q *Queue[T]) tookLocked(b batch[T], release bool) {
	q.delivered += b.msgs
	q.maxBatch = max(q.maxBatch, b.msgs)
	if release {
		q.releaseLocked(b.elems)
	} else {
		q.unreleased += b.elems
	}
}

// roomComingLocked reports whether room will be freed without a producer's
// help: messages are buffered, being read by a drain, or drained and not yet
// released.
func (q *Queue[T]) roomComingLocked() bool {
	return len(q.buf) > 0 || len(q.ready) > 0 || q.readingLocked() || q.unreleased > 0
}

// readingLocked reports whether a drain is reading lanes outside mu: it
// holds the ready list's spare array meanwhile, and leaves nil in its place.
func (q *Queue[T]) readingLocked() bool { return q.readySpare == nil }

// requestDrain makes the consumer take a batch that starts after this call,
// even an empty one, and returns that batch's number. Writer.Flush waits for
// it: everything accepted before the call is in it or in an earlier batch.
func (q *Queue[T]) requestDrain() uint64 {
	q.mu.Lock()
	q.drainWanted = true
	q.hurryLocked()
	target := q.drains + 1
	q.unlockWaking()
	return target
}

// gatherLocked waits, up to gatherDelay, until the lanes hold about gather
// more elements, or until the idle waker finds nothing else ready to run. It
// is called and returns with mu held.
func (q *Queue[T]) gatherLocked(ctx context.Context, gather int) {
	q.gather = min(gather, q.capacity/2)
	q.gatherLanes = q.gather/max(q.perLane, 1) + 1
	defer func() { q.gather = 0 }()
	if q.gatheredLocked() {
		return
	}
	if q.idleKick == nil {
		q.idleKick = make(chan struct{}, 1)
		go q.idleWaker(q.idleKick)
	}
	if !q.idleKicked {
		q.idleKicked = true
		q.idleKick <- struct{}{}
	}
	q.lingerLocked(ctx, gatherDelay)
	if !q.gatheredLocked() {
		q.busyDrains = 0 // the lanes are not that busy: do not wait again soon
	}
}

// gatherAfter and gatherDelay bound a gathering consumer's wait. It gathers
// only after finding messages waiting on this many drains in a row: the
// producers are busy. A lightly loaded queue's consumer parks on most drains,
// and its messages must not wait. It never waits longer than gatherDelay, and
// a gather that times out short of its goal starts the count again.
const (
	gatherAfter = 3
	gatherDelay = 50 * time.Microsecond
)

// spinGatherLocked lets a small shared-path batch grow before a busy
// consumer takes it: it releases mu, spins for spinGatherTime and takes mu
// back. Producers have kept the consumer busy, so more messages are on
// their way; taken at once, the batch is the few hundred one-byte messages
// that arrived during the last write, and every such batch costs a write
// system call, a read at the other end, and the lock's and the buffer's
// cache lines taken from the producers.
//
// It spins where the lanes' gather parks: parked, the consumer would give
// its processor to producers, which would then contend for the lock from
// every processor (see gatherBytes). It spins only while busy (a lightly
// loaded consumer parks on most drains and never gets here), only on more
// than one processor, and for at most spinGatherTime per batch, the most a
// message waits for it.
func (q *Queue[T]) spinGatherLocked() {
	onSpin := q.onSpin
	q.mu.Unlock()
	if onSpin != nil {
		onSpin()
	}
	deadline := time.Now().Add(spinGatherTime)
	// The count ends the spin where the clock stands still: in a
	// testing/synctest bubble.
	for range spinGatherChecks {
		if !time.Now().Before(deadline) {
			break
		}
	}
	q.mu.LockFirst()
}

// spinGatherTime and spinGatherBytes are how long a busy consumer spins
// before taking a shared-path batch, and the batch size from which it does
// not. Against taking the batch at once, in one binary, with 1-byte
// messages: 0.89-0.92x the time at 256-8192 producers and 0.96-0.99x at
// 16-64 with 8 µs; 2 µs saved half of that, 16 µs no more (and cost 3% at
// 16 producers), and 0.5 µs cost 2%. spinGatherChecks bounds the clock
// readings of one spin (about 50 ns each on the reference machine).
const (
	spinGatherTime   = 8 * time.Microsecond
	spinGatherBytes  = 8 << 10
	spinGatherChecks = 1024
)

// gatheredLocked reports whether the lanes hold about what a gathering
// consumer waits for. The consumer cannot see how much lanes have published
// without reading them, so it counts what producers report under mu: lane
// elements in chunks added since the last drain, and ready lanes, each worth
// what the last batch read per lane.
func (q *Queue[T]) gatheredLocked() bool {
	return q.grown >= q.gather || len(q.ready) >= q.gatherLanes
}

// idleWaker ends a gather, each time it is kicked, once the goroutines that
// were ready to run have had their turn: it yields, which puts it behind
// them, and ends the gather when it runs again. Without it, a gather that
// the lanes never fill (the end of a burst) lasts its whole timer, and a
// timer shorter than a millisecond takes a millisecond in an idle process.
// It is one long-lived goroutine, not one per gather, because starting a
// goroutine can allocate; it returns when the consumer has seen io.EOF.
func (q *Queue[T]) idleWaker(kick <-chan struct{}) {
	for range kick {
		runtime.Gosched()
		q.mu.Lock()
		q.idleKicked = false
		if q.gather > 0 {
			q.stopLingerLocked()
		}
		q.mu.Unlock()
	}
}

// grewLocked records that a lane added a chunk of n elements (or, with n 0,
// joined the ready list), and wakes a gathering consumer that has enough.
func (q *Queue[T]) grewLocked(n int) {
	q.grown += n
	if q.gather > 0 && q.gatheredLocked() {
		q.stopLingerLocked()
	}
}

// lingerLocked waits up to d for the batch to grow. It is called and returns
// with mu held. It takes mu back with LockFirst, as every consumer path
// must: behind thousands of spinning producers, Lock can yield for
// milliseconds (with Lock here, gathering cost 20-45% at 8192 lanes).
func (q *Queue[T]) lingerLocked(ctx context.Context, d time.Duration) {
	q.lingering = true
	q.mu.Unlock()
	if q.timer == nil {
		q.timer = time.NewTimer(d)
	} else {
		q.timer.Reset(d)
	}
	select {
	case <-q.timer.C:
	case <-q.wake:
		q.timer.Stop()
	case <-ctx.Done():
		q.timer.Stop()
	}
	q.mu.LockFirst()
	q.lingering = false
}

// Len returns the number of messages accepted and not yet drained.
func (q *Queue[T]) Len() int {
	return int(q.Stats().Buffered)
}

// Stats returns a snapshot of the queue's counters. It visits every open
// Producer, so it costs time in proportion to their number.
func (q *Queue[T]) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	s := Stats{
		Accepted:  q.accepted + q.bufMsgs,
		Delivered: q.delivered,
		Batches:   q.drains,
		MaxBatch:  q.maxBatch,
		Waits:     q.waits,
		Lanes:     len(q.lanes.all),
	}
	for _, p := range q.lanes.all {
		s.Accepted += p.acceptedSnapshot()
	}
	s.Buffered = s.Accepted - s.Delivered
	return s
}
