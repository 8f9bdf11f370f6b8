package strategy

import (
	"fmt"
	"io"

	"github.com/fanin-dev/fanin"
	"github.com/fanin-dev/fanin/internal/wire"
)

// faninCapacity matches mutex-swap's bound, so the two compete with the same
// memory.
const faninCapacity = 1 << 20

// Fanin is the library's shared path, used as a user would: every producer
// calls Write on one fanin.Writer in front of the destination.
type Fanin struct{}

// Name implements Strategy.
func (Fanin) Name() string { return "fanin" }

// Prepare implements Strategy.
func (s Fanin) Prepare(dst io.Writer, h wire.Header) (Run, error) {
	return prepareWriter(s.Name(), dst, h, func(w *fanin.Writer, _ int) SendFunc {
		return func(msg []byte) bool {
			_, err := w.Write(msg)
			return err == nil
		}
	})
}

// FaninLanes is the library's per-producer path: each producer writes
// through its own fanin.Lane of one Writer.
type FaninLanes struct{}

// Name implements Strategy.
func (FaninLanes) Name() string { return "fanin-lanes" }

// Prepare implements Strategy.
func (s FaninLanes) Prepare(dst io.Writer, h wire.Header) (Run, error) {
	return prepareWriter(s.Name(), dst, h, func(w *fanin.Writer, _ int) SendFunc {
		lane := w.Lane() // made here, in Prepare: outside the timed region
		left := h.Messages
		return func(msg []byte) bool {
			_, err := lane.Write(msg)
			if left--; left == 0 || err != nil {
				lane.Close() // hand back the room the lane reserved
			}
			return err == nil
		}
	})
}

// prepareWriter runs the producers into one fanin.Writer. The last producer
// to return closes it, as every other contestant's last producer closes its
// channel or queue: Close writes what is left and returns the destination's
// first error. The flusher is the consumer, so the harness's consumer
// goroutine has nothing to do.
func prepareWriter(name string, dst io.Writer, h wire.Header, sender func(*fanin.Writer, int) SendFunc) (Run, error) {
	r, err := NewHarness(name, dst, h)
	if err != nil {
		return nil, err
	}
	w := fanin.NewWriter(dst, fanin.WithCapacity(faninCapacity))
	r.Launch(h.Producers,
		func(p int) SendFunc { return sender(w, p) },
		func() {
			if err := w.Close(); err != nil {
				r.Fail(fmt.Errorf("strategy %s: %w", name, err))
			}
		},
		func() {})
	return r, nil
}
