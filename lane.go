package fanin

import (
	"context"
	"slices"
	"sync/atomic"
)

// A Producer is one producer's lane into a Queue. Pushing through a lane
// takes no lock and touches no memory shared with other producers: the lane
// reserves room from the queue in blocks and publishes each message to the
// consumer with a single atomic store. Use one per goroutine for hot loops.
//
// Messages pushed through one Producer are delivered in order. They count
// against the queue's capacity like any other, and the consumer sees each
// one as soon as its Push returns.
//
// A lane keeps the room it reserved and has not used yet (at most 1/64 of
// the capacity, and a quarter of what was free) until it uses it or
// closes, even while other producers are parked for room: they wait for
// the consumer, or for lanes to close. A push that parks for room returns
// once the block it asked for is free, or, when the consumer has nothing
// left to take or write, once what it needs is: not with a sliver that
// would park it again at once.
//
// A Producer is not safe for concurrent use: it belongs to one goroutine at
// a time. Close it when done, so that the room it reserved returns to the
// queue.
type Producer[T any] struct {
	// Producer-owned: no synchronisation. The fields each side writes sit
	// on cache lines of their own, so the consumer reading a lane does not
	// evict the producer's state.
	q      *Queue[T]
	wbuf   []T       // wchunk's items: the fast path writes wbuf[woff:wend]
	woff   int       // index in wbuf of position wr
	wend   int       // index in wbuf of min(limit, wchunk's end)
	wr     uint64    // position of the next element to write
	msgs   uint64    // messages published
	wchunk *chunk[T] // the chunk holding position wr (or ending at it)
	limit  uint64    // positions below limit are paid for with reserved credit
	quota  int       // credit to reserve next time: grows while the lane keeps pushing
	closed bool
	_      cacheLinePad

	// Shared: the producer stores pub on every push, the consumer loads it.
	pub    atomic.Uint64 // published: low 32 bits elements, high 32 bits messages (both mod 2^32)
	queued atomic.Bool   // on the queue's ready list, or being read by the consumer
	// The consumer's fields below have a line of their own too: on pub's,
	// the consumer's stores while it reads a busy lane took the line from
	// its producer, and a single Producer.Push was 17% slower.
	_ cacheLinePad

	// Consumer-owned (the consumer holds q.consumer).
	rd     uint64    // position of the next element to read
	rchunk *chunk[T] // the chunk holding position rd
	// Read by Stats under q.mu, written by the consumer.
	readMsgs atomic.Uint64

	index int // in q.lanes, guarded by q.mu
}

// cacheLinePad keeps the fields before and after it on different cache
// lines (two, for CPUs that fetch lines in pairs).
type cacheLinePad [128]byte

// A chunk is a piece of a lane's storage. A lane is a linked list of chunks:
// the producer appends, the consumer reads and recycles them.
type chunk[T any] struct {
	items []T
	start uint64 // position of items[0]
	next  atomic.Pointer[chunk[T]]
}

func (c *chunk[T]) end() uint64 { return c.start + uint64(len(c.items)) }

const lowMask = 1<<32 - 1

// Producer returns a new lane into q. A lane made after Close is closed.
func (q *Queue[T]) Producer() *Producer[T] {
	p := new(Producer[T])
	q.openLane(p)
	return p
}

// openLane makes the zero Producer p a new lane into q (a closed one after
// Close).
func (q *Queue[T]) openLane(p *Producer[T]) {
	p.q = q
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closeErr != nil {
		p.closed = true
		return
	}
	q.lanes.add(p)
	q.sizeChunksLocked()
	// The ready list holds each open lane at most once: both its arrays get
	// room for every open lane now, so that no push grows them. A lane's
	// first push would otherwise allocate under the queue's lock, and take
	// the new array's page faults: 5 µs at 4 lanes in the matrix.
	if n := len(q.lanes.all); cap(q.ready) < n {
		q.ready = slices.Grow(q.ready, 2*n-len(q.ready))
		if !q.readingLocked() {
			q.readySpare = make([]*Producer[T], 0, cap(q.ready))
		}
	}
	// The first chunk now, so that the first push does not allocate, and
	// written now, so that the first pushes do not take its page faults:
	// memory the runtime has just had from the OS is zero already, so make
	// does not write it, and it is mapped only when first written. A lane
	// is opened once and pushed through many times (with 1024 lanes
	// opened outside the timed region, the matrix's cell was 7% faster).
	p.wchunk = q.newChunkLocked(0)
	clear(p.wchunk.items)
	p.rchunk = p.wchunk
	p.wbuf = p.wchunk.items
}

// Push adds v to the queue through this lane, parking while the queue is
// full. Its results are those of Queue.Push.
func (p *Producer[T]) Push(ctx context.Context, v T) error {
	// The fast path: room is already paid for and the chunk has space.
	if p.woff < p.wend && !p.q.closed.Load() {
		p.wbuf[p.woff] = v
		p.woff++
		return p.publish(1, 1)
	}
	return p.pushSlow(ctx, []T{v}, 1, true)
}

// TryPush adds v if there is room now. It never parks: it returns nil,
// ErrFull or ErrClosed.
func (p *Producer[T]) TryPush(v T) error {
	if p.woff < p.wend && !p.q.closed.Load() {
		p.wbuf[p.woff] = v
		p.woff++
		return p.publish(1, 1)
	}
	return p.pushSlow(context.Background(), []T{v}, 1, false)
}

// PushBatch adds all of vs through this lane, contiguous and in order, or
// none of them. Its results are those of Queue.PushBatch.
func (p *Producer[T]) PushBatch(ctx context.Context, vs []T) error {
	return p.pushMessage(ctx, vs, uint64(len(vs)))
}

// pushMessage adds vs, counted as msgs messages.
func (p *Producer[T]) pushMessage(ctx context.Context, vs []T, msgs uint64) error {
	n := len(vs)
	if n == 0 {
		return p.err()
	}
	if n <= p.wend-p.woff && !p.q.closed.Load() {
		if n == 1 { // a one-byte Write: no memmove call
			p.wbuf[p.woff] = vs[0]
		} else {
			copy(p.wbuf[p.woff:], vs)
		}
		p.woff += n
		// publish, written out: the compiler does not inline it here, and
		// this is the hot path of every Lane.Write.
		p.wr += uint64(n)
		p.msgs += msgs
		p.pub.Store(p.msgs<<32 | p.wr&lowMask)
		if p.queued.Load() {
			return nil
		}
		return p.enqueue(uint64(n), msgs)
	}
	return p.pushSlow(ctx, vs, msgs, true)
}

// err is why a push through p fails: the queue's error wins over the lane's
// own Close, so that a lane of a failed Writer reports the failure.
func (p *Producer[T]) err() error {
	if err := p.q.Err(); err != nil || !p.closed {
		return err
	}
	return ErrClosed
}

// publish makes the n elements just written at wr visible to the consumer.
func (p *Producer[T]) publish(n, msgs uint64) error {
	p.wr += n
	p.msgs += msgs
	p.pub.Store(p.msgs<<32 | p.wr&lowMask)
	if !p.queued.Load() {
		return p.enqueue(n, msgs)
	}
	return nil // the consumer will look at us
}

// enqueue puts the lane on the ready list. If the consumer has already
// returned io.EOF it will read nothing more: the last publish is taken back
// and refused, unless the consumer read it before it stopped (it may have,
// while it still held the lane from an earlier publish).
func (p *Producer[T]) enqueue(n, msgs uint64) error {
	if !p.queued.CompareAndSwap(false, true) {
		return nil
	}
	q := p.q
	q.mu.Lock()
	if q.eof {
		err := q.closeErr
		// The consumer's last read happened before it set eof under mu, so
		// p.rd is final here.
		delivered := uint32(p.rd) == uint32(p.wr)
		q.mu.Unlock()
		p.wend = 0 // the lane is dead: later pushes take the slow path and fail
		if delivered {
			return nil
		}
		p.wr -= n
		p.msgs -= msgs
		p.pub.Store(p.msgs<<32 | p.wr&lowMask)
		return err
	}
	q.ready = append(q.ready, p)
	q.grewLocked(0)
	q.unlockWaking()
	return nil
}

// pushSlow handles everything but the fast path: closed lanes and queues,
// reserving credit (parking if the queue is full), adding chunks, and
// messages that span chunks. Without mayPark it returns ErrFull instead of
// parking.
func (p *Producer[T]) pushSlow(ctx context.Context, vs []T, msgs uint64, mayPark bool) error {
	if p.closed {
		return p.err()
	}
	q := p.q
	n := uint64(len(vs))
	if n > uint64(q.capacity) {
		return q.tooLarge(int(n))
	}
	q.mu.Lock()
	if q.closeErr != nil {
		err := q.closeErr
		q.mu.Unlock()
		return err
	}
	if need := p.wr + n - min(p.limit, p.wr+n); need > 0 {
		// Unused credit is kept, so reserve only what is missing.
		if err := p.reserveLocked(ctx, int(need), mayPark); err != nil {
			return err // mu released
		}
	}
	// Make sure the chunks cover [wr, wr+n).
	last := p.wchunk
	for last.end() < p.wr+n {
		c := q.newChunkLocked(last.end())
		last.next.Store(c)
		last = c
		q.grewLocked(len(c.items))
	}
	q.mu.Unlock()

	// Copy, crossing chunks as needed, then publish once. The lane moves to
	// the chunk where the copy ends before publishing: once the consumer
	// reads past a chunk it may recycle it.
	pos := p.wr
	c := p.wchunk
	for len(vs) > 0 {
		if pos == c.end() {
			c = c.next.Load()
		}
		k := copy(c.items[pos-c.start:], vs)
		vs = vs[k:]
		pos += uint64(k)
	}
	p.wchunk = c
	p.wbuf = c.items
	p.woff = int(pos - c.start)
	p.wend = int(min(p.limit, c.end()) - c.start)
	return p.publish(n, msgs)
}

// reserveLocked gets at least need more credit, parking while the queue is
// full (or returning ErrFull without mayPark). It returns with mu held on
// success and released on error.
func (p *Producer[T]) reserveLocked(ctx context.Context, need int, mayPark bool) error {
	q := p.q
	// A lane reserves a chunk's length at first: the memory it holds
	// anyway, and one lock for each chunk it fills rather than one for 64
	// elements, then 128, and so on (fanin-lanes 5-7% faster at 64, 1024
	// and 8192 lanes, where 1000 one-byte messages took five locks). A
	// lane that keeps pushing reserves more each time, up to laneMax: the
	// lock is then taken once per thousands of messages. Never more than a
	// quarter of what is free, so that a lane that goes quiet holding
	// credit leaves most of it to the others. A lane does not hand credit
	// back while others are parked for room: it would then park itself on
	// its next push (fanin-lanes was 7-15% slower at 8192 lanes).
	p.quota = min(max(2*p.quota, q.chunkLen), q.laneMax)
	var got int
	switch {
	case q.free >= need && q.waiters.empty():
		got = min(max(need, min(p.quota, q.free/4)), q.free)
		q.free -= got
	case !mayPark:
		q.mu.Unlock()
		return ErrFull
	default:
		var err error
		if got, err = q.waitLocked(ctx, need, max(need, p.quota)); err != nil {
			return err
		}
	}
	p.limit += uint64(got)
	return nil
}

// newChunkLocked returns a chunk starting at position start.
func (q *Queue[T]) newChunkLocked(start uint64) *chunk[T] {
	var c *chunk[T]
	if n := len(q.chunks); n > 0 {
		c = q.chunks[n-1]
		q.chunks[n-1] = nil
		q.chunks = q.chunks[:n-1]
		c.next.Store(nil)
	} else {
		c = &chunk[T]{items: make([]T, q.chunkLen)}
	}
	c.start = start
	return c
}

// Close closes the lane and returns the room it reserved to the queue.
// Messages it pushed are still delivered. Later pushes through the lane
// return ErrClosed. Close is idempotent and returns nil.
func (p *Producer[T]) Close() error {
	if p.closed {
		return nil
	}
	p.closed = true
	p.wend = 0
	q := p.q
	q.mu.Lock()
	defer q.mu.Unlock()
	q.lanes.remove(p)
	q.sizeChunksLocked()
	q.accepted += p.msgs
	q.releaseLocked(int(p.limit - p.wr))
	p.limit = p.wr
	return nil
}

// acceptedSnapshot returns how many messages the lane has published. Called
// with q.mu held.
func (p *Producer[T]) acceptedSnapshot() uint64 {
	read := p.readMsgs.Load()
	pub := uint32(p.pub.Load() >> 32)
	return read + uint64(pub-uint32(read))
}

// read adds everything the lane has published and the consumer has not yet
// read to b: copied into b.items, or, for an inPlace queue, as slices of the
// lane's chunks in b.segs. It returns the number of elements and the number
// of messages read. Only the consumer calls it.
func (p *Producer[T]) read(b *batch[T], q *Queue[T]) (int, uint64) {
	pub := p.pub.Load()
	n := uint64(uint32(pub) - uint32(p.rd))
	readMsgs := p.readMsgs.Load()
	m := uint64(uint32(pub>>32) - uint32(readMsgs))
	for end := p.rd + n; p.rd < end; {
		c := p.rchunk
		if p.rd == c.end() {
			// The producer linked the next chunk before publishing past this
			// one, and will never touch this one again.
			p.rchunk = c.next.Load()
			if q.inPlace {
				q.held = append(q.held, c) // b.segs may point into it
			} else {
				q.recycled = append(q.recycled, c)
			}
			continue
		}
		k := min(end, c.end()) - p.rd
		off := p.rd - c.start
		if q.inPlace {
			b.segs = append(b.segs, c.items[off:off+k])
		} else {
			b.items = append(b.items, c.items[off:off+k]...)
		}
		p.rd += k
	}
	p.readMsgs.Store(readMsgs + m)
	return int(n), m
}

// unqueue takes the lane off the ready list after a read. It reports whether
// the lane must stay ready because it published meanwhile.
func (p *Producer[T]) unqueue() bool {
	p.queued.Store(false)
	// A producer stores pub, then loads queued; we store queued, then load
	// pub. So either it saw false and enqueues itself, or we see its data.
	if uint32(p.pub.Load()) == uint32(p.rd) {
		return false
	}
	return p.queued.CompareAndSwap(false, true)
}

// laneSet is the set of open Producers, with O(1) add and remove.
type laneSet[T any] struct {
	all []*Producer[T]
}

func (s *laneSet[T]) add(p *Producer[T]) {
	p.index = len(s.all)
	s.all = append(s.all, p)
}

func (s *laneSet[T]) remove(p *Producer[T]) {
	last := s.all[len(s.all)-1]
	s.all[p.index] = last
	last.index = p.index
	s.all[len(s.all)-1] = nil
	s.all = s.all[:len(s.all)-1]
}
