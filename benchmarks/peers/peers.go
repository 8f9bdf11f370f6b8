// Package peers holds the contestants from other Go libraries: the queues
// and buffered writers a user might pick instead of fanin, each used as its
// documentation intends and wrapped in internal/strategy's Strategy
// interface so that internal/bench measures them in the same run, with the
// same producers, sink and verification as the project's own contestants.
//
// It lives in its own module (github.com/fanin-dev/fanin/benchmarks) so
// that neither the library nor the fanin command depends on any peer.
package peers

import (
	"io"
	"time"

	"github.com/fanin-dev/fanin/internal/bench"
	"github.com/fanin-dev/fanin/internal/strategy"
	"github.com/fanin-dev/fanin/internal/wire"
)

// A Peer is a contestant from another library. Limitations says, in one
// line, what it cannot do that the comparison should not hide.
type Peer interface {
	strategy.Strategy
	Limitations() string
	// Open opens the same fan-in for producers the caller runs (a
	// strategy.FeedOpener), for the overload and latency scenarios.
	Open(dst io.Writer, h wire.Header) (strategy.Feeder, error)
}

// TunedFlush is zap-buffered's tuned flush interval: short enough that a
// message waits about a millisecond at light load, instead of zap's 30 s.
const TunedFlush = time.Millisecond

// All returns every peer, in the order reports list them.
func All() []Peer {
	return []Peer{
		XsyncMPMC{},
		WorkivaRing{},
		EapacheBatching{},
		ChanxUnbounded{},
		ZapBuffered{},
		ZapBuffered{FlushInterval: TunedFlush},
	}
}

// Contestants returns the project's contestants followed by every peer:
// the matrix that the peers command runs.
func Contestants() []strategy.Strategy {
	out := strategy.All()
	for _, p := range All() {
		out = append(out, p)
	}
	return out
}

// Limitations maps each peer's name to its Limitations line.
func Limitations() map[string]string {
	m := map[string]string{}
	for _, p := range All() {
		m[p.Name()] = p.Limitations()
	}
	return m
}

// ScenarioDesigns returns every peer as a design for the overload and
// latency scenarios (bench.ScenarioConfig.Extra), each with its bound: the
// bounded queues hold queueCap messages, zap its 256 KiB buffer (plus the
// one Write in progress), chanx none.
func ScenarioDesigns() []bench.ExtraDesign {
	var out []bench.ExtraDesign
	for _, p := range All() {
		d := bench.ExtraDesign{Name: p.Name(), Open: p.Open}
		switch p.(type) {
		case XsyncMPMC, WorkivaRing, EapacheBatching:
			d.Bound = func(h wire.Header) int64 { return queueCap * int64(h.Size) }
		case ZapBuffered:
			d.Bound = func(wire.Header) int64 { return zapBufferSize }
		}
		out = append(out, d)
	}
	return out
}

// zapBufferSize is BufferedWriteSyncer's default buffer size (Size 0).
const zapBufferSize = 256 << 10
