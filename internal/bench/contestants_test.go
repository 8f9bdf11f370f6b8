package bench

import (
	"fmt"
	"testing"
	"time"

	"github.com/fanin-dev/fanin/internal/strategy"
	"github.com/fanin-dev/fanin/internal/wire"
)

// BenchmarkContestants measures the default byte-mode cells (without
// chan-serial, whose runs take seconds) through the in-process TCP sink, one
// verified run per iteration, reporting the timed region as ns/msg. It exists
// for before/after comparisons of a change:
//
//	go test -run '^$' -bench Contestants -count 8 ./internal/bench > new.txt
//	benchstat old.txt new.txt
func BenchmarkContestants(b *testing.B) {
	stop, addr, err := startSink()
	if err != nil {
		b.Fatal(err)
	}
	defer stop()
	bb := &bencher{cfg: Config{Sink: SinkTCP}, addr: addr}
	for _, p := range []int{1, 4, 16, 64, 256, 1024, 8192} {
		for _, s := range strategy.All() {
			if s.Name() == "chan-serial" {
				continue
			}
			h := wire.Header{Mode: wire.Byte, Producers: p, Messages: DefaultMessages, Size: 1, Label: s.Name()}
			b.Run(fmt.Sprintf("%s/producers=%d", s.Name(), p), func(b *testing.B) {
				var timed time.Duration
				for b.Loop() {
					sm, err := bb.run(b.Context(), s, h)
					if err != nil {
						b.Fatal(err)
					}
					if !sm.verdict.OK {
						b.Fatalf("unverified run: %v", sm.verdict.Err())
					}
					timed += sm.elapsed
				}
				b.ReportMetric(float64(timed.Nanoseconds())/float64(b.N)/float64(h.TotalMessages()), "ns/msg")
			})
		}
	}
}
