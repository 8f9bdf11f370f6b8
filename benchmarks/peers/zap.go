package peers

import (
	"fmt"
	"io"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/fanin-dev/fanin/internal/strategy"
	"github.com/fanin-dev/fanin/internal/wire"
)

// ZapBuffered is zap's BufferedWriteSyncer, the byte-writer peer of
// fanin.Writer: every producer calls its Write, which takes one mutex and
// copies into a bufio.Writer; the producer whose message does not fit
// flushes the buffer to the destination while holding the mutex, and a
// ticker goroutine flushes every FlushInterval. Stop flushes the rest.
type ZapBuffered struct {
	// FlushInterval is passed through; 0 is zap's default (30 s).
	FlushInterval time.Duration
}

// Name implements strategy.Strategy: zap-buffered at the default interval,
// zap-buffered-<interval> otherwise.
func (s ZapBuffered) Name() string {
	if s.FlushInterval == 0 {
		return "zap-buffered"
	}
	return "zap-buffered-" + s.FlushInterval.String()
}

// Limitations implements Peer.
func (s ZapBuffered) Limitations() string {
	tick := "at the flush tick, every 30 s by default: at light load messages wait that long"
	if s.FlushInterval != 0 {
		tick = "at the flush tick, every " + s.FlushInterval.String() + ": its ticker goroutine wakes that often even when idle"
	}
	return "one mutex for every producer, and the destination write happens under it (producers wait out the syscall); " +
		"no separate consumer: data leaves when 256 KiB fill or " + tick + "; no context"
}

// Prepare implements strategy.Strategy.
func (s ZapBuffered) Prepare(dst io.Writer, h wire.Header) (strategy.Run, error) {
	return prepare(s.Name(), s.fanIn, dst, h)
}

// Open implements Peer.
func (s ZapBuffered) Open(dst io.Writer, h wire.Header) (strategy.Feeder, error) {
	return open(s.Name(), s.fanIn, dst, h)
}

// fanIn builds the peer's fan-in in front of dst for run r: one
// constructor for both Prepare and Open.
func (s ZapBuffered) fanIn(r *strategy.Harness, dst io.Writer, h wire.Header) (fanIn, error) {
	ws := &zapcore.BufferedWriteSyncer{WS: zapcore.AddSync(dst), FlushInterval: s.FlushInterval}
	// The first Write allocates the buffer and starts the flush goroutine:
	// an empty one here keeps that out of the timed run.
	if _, err := ws.Write(nil); err != nil {
		return fanIn{}, err
	}
	send := func(msg []byte) bool {
		// bufio keeps the destination's first error and returns it from
		// every later Write: producers stop at their next message.
		if _, err := ws.Write(msg); err != nil {
			r.Fail(fmt.Errorf("peer %s: %w", s.Name(), err))
			return false
		}
		return true
	}
	producersDone := make(chan struct{})
	return fanIn{
		sender: func(int) strategy.SendFunc { return send },
		done:   func() { close(producersDone) },
		consume: func() {
			<-producersDone
			if err := ws.Stop(); err != nil {
				r.Fail(fmt.Errorf("peer %s: stop: %w", s.Name(), err))
			}
		},
	}, nil
}
