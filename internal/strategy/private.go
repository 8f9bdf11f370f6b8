package strategy

import (
	"errors"
	"fmt"
	"io"

	"github.com/fanin-dev/fanin/internal/prefault"
	"github.com/fanin-dev/fanin/internal/wire"
)

// ErrWorkloadTooLarge is Private's refusal of a workload it cannot buffer
// whole (more than PrivateLimit bytes).
var ErrWorkloadTooLarge = errors.New("workload too large to buffer whole")

// PrivateLimit bounds the workload Private accepts: it holds every message
// in memory before writing any.
const PrivateLimit = 512 << 20

// Private is a floor, not a fan-in: every producer appends its messages to
// a buffer of its own, with no synchronisation at all, and the consumer
// writes the buffers, in 64 KiB writes, once every producer has finished.
// Nothing streams while the producers run. What it measures is what any
// design built on producer goroutines pays before its fan-in costs
// anything: starting and scheduling the goroutines, the harness's send
// call, and making the messages. A streaming fan-in can beat it only by
// overlapping its writes with the producers' work.
//
// It buffers the whole workload, so it refuses one larger than PrivateLimit
// with ErrWorkloadTooLarge.
type Private struct{}

// Name implements Strategy.
func (Private) Name() string { return "private" }

// Prepare implements Strategy.
func (s Private) Prepare(dst io.Writer, h wire.Header) (Run, error) {
	r, all, per, err := wholeWorkload(s.Name(), dst, h)
	if err != nil {
		return nil, err
	}
	// The producers' buffers are consecutive pieces of one array, so that
	// the consumer writes it as it stands, without copying.
	bufs := make([]privateBuf, h.Producers)
	for p := range bufs {
		bufs[p].b = all[p*per : p*per : (p+1)*per]
	}
	done := make(chan struct{})
	r.Launch(h.Producers,
		func(p int) SendFunc {
			buf := &bufs[p]
			return func(msg []byte) bool {
				buf.b = append(buf.b, msg...)
				return true
			}
		},
		func() { close(done) },
		func() {
			<-done
			for _, b := range bufs {
				if len(b.b) < per {
					return // a producer stopped early: the run has failed
				}
			}
			for len(all) > 0 {
				k := min(len(all), batchLimit)
				if !r.WriteBatch(all[:k]) {
					return
				}
				all = all[k:]
			}
		})
	return r, nil
}

// wholeWorkload starts a floor that holds every message of h in memory
// (Private, PolledLanes): it refuses a workload larger than PrivateLimit
// with ErrWorkloadTooLarge, makes the harness, and returns one array for the
// whole workload, touched so that its page faults stay out of the timed
// region, and each producer's share of it in bytes.
func wholeWorkload(name string, dst io.Writer, h wire.Header) (r *Harness, all []byte, per int, err error) {
	if total := h.TotalBytes(); total > PrivateLimit {
		return nil, nil, 0, fmt.Errorf("strategy %s: %w: %d bytes > %d", name, ErrWorkloadTooLarge, total, PrivateLimit)
	}
	if r, err = NewHarness(name, dst, h); err != nil {
		return nil, nil, 0, err
	}
	per = h.Messages * h.Size
	all = make([]byte, h.Producers*per)
	prefault.Slice(all)
	return r, all, per, nil
}

// privateBuf is one producer's buffer, alone on its cache lines: producers
// on different CPUs appending to neighbouring slice headers would otherwise
// take the line from each other on every message.
type privateBuf struct {
	b []byte
	_ [128 - 24]byte
}
