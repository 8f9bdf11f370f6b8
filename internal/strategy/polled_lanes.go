package strategy

import (
	"fmt"
	"io"
	"net"
	"runtime"
	"sync/atomic"

	"github.com/fanin-dev/fanin/internal/wire"
)

// PolledLanes is a floor, not a fan-in: the least any design with a lane
// per producer pays while it streams. Each producer has a buffer of its own,
// large enough for its whole workload and touched before the run, and
// publishes every message with one atomic store of its length, which is
// what makes the message visible to the consumer the moment its send
// returns. (Go's atomic stores are all sequentially consistent, so this is
// a locked instruction on amd64, as in fanin's lanes.) The consumer polls
// every lane in turn and writes what they published since its last look,
// in place, with one vectored write per pass; finding nothing new, it
// yields to the producers.
//
// Everything a usable lane design needs on top is left out, so that what it
// measures is a lower bound for fanin-lanes: there is no bound on memory
// (the buffers hold the whole workload), no reservation of room, and no
// parking, so the consumer spins through runtime.Gosched while producers
// are slow and no producer ever checks whether it must wake the consumer.
//
// It buffers the whole workload, so it refuses one larger than PrivateLimit
// with ErrWorkloadTooLarge.
type PolledLanes struct{}

// Name implements Strategy.
func (PolledLanes) Name() string { return "polled-lanes" }

// polledLane is one producer's buffer and its published length, each alone
// on its cache lines: the producer writes both on every message, and the
// consumer reads pub of every lane on every pass.
type polledLane struct {
	buf []byte
	n   int // the producer's: bytes written
	_   [128 - 32]byte
	pub atomic.Int64 // bytes the consumer may read
	_   [128 - 8]byte
}

// Prepare implements Strategy.
func (s PolledLanes) Prepare(dst io.Writer, h wire.Header) (Run, error) {
	r, all, per, err := wholeWorkload(s.Name(), dst, h)
	if err != nil {
		return nil, err
	}
	lanes := make([]polledLane, h.Producers)
	for p := range lanes {
		lanes[p].buf = all[p*per : (p+1)*per : (p+1)*per]
	}
	c := &lanePoller{r: r, dst: dst, lanes: lanes, read: make([]int, h.Producers),
		iov: make(net.Buffers, 0, h.Producers), left: h.TotalBytes()}
	r.SpinningConsumer()
	r.Launch(h.Producers,
		func(p int) SendFunc {
			l := &lanes[p]
			return func(msg []byte) bool {
				l.n += copy(l.buf[l.n:], msg)
				l.pub.Store(int64(l.n))
				return true
			}
		},
		nil,
		c.consume)
	return r, nil
}

// lanePoller is PolledLanes' consumer.
type lanePoller struct {
	r     *Harness
	dst   io.Writer
	lanes []polledLane
	read  []int // bytes of each lane written so far
	// iov keeps the array; unsent, which WriteTo consumes, is a field so
	// that taking its address does not allocate.
	iov, unsent net.Buffers
	left        int64 // bytes still to write
}

// consume passes over every lane, writes what they published since the last
// pass with one vectored write, and yields when a pass finds nothing, until
// every byte is written or a write fails.
func (c *lanePoller) consume() {
	for c.left > 0 {
		c.iov = c.iov[:0]
		var want int64
		for p := range c.lanes {
			l := &c.lanes[p]
			if n := int(l.pub.Load()); n > c.read[p] {
				c.iov = append(c.iov, l.buf[c.read[p]:n])
				want += int64(n - c.read[p])
				c.read[p] = n
			}
		}
		if want == 0 {
			if c.r.stopped.Load() {
				return // the run has failed: the producers publish no more
			}
			runtime.Gosched()
			continue
		}
		c.unsent = c.iov
		n, err := c.unsent.WriteTo(c.dst)
		if err == nil && n < want {
			err = io.ErrShortWrite
		}
		if err != nil {
			c.r.Fail(fmt.Errorf("strategy %s: write: %w", c.r.name, err))
			return
		}
		c.left -= want
	}
}
