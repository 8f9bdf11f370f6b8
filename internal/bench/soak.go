package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fanin-dev/fanin"
	"github.com/fanin-dev/fanin/internal/wire"
)

// Soak defaults.
const (
	DefaultSoakLanes   = 256
	DefaultSoakShared  = 64
	DefaultSoakMaxSize = 512
	soakSample         = 100 * time.Millisecond
)

// SoakConfig describes a soak: many producers streaming Varied messages
// (random sizes, every one verifiable) through one fanin.Writer over
// loopback TCP for Duration.
type SoakConfig struct {
	Duration time.Duration
	Lanes    int // producers writing through their own Writer.Lane; default DefaultSoakLanes
	Shared   int // producers calling Writer.Write; default DefaultSoakShared
	MaxSize  int // largest message in bytes (wire.VariedMin..wire.MaxSize); default DefaultSoakMaxSize
	Capacity int // the Writer's capacity in bytes; 0: fanin's default
}

// SoakResult is what a soak measured. Heap figures are runtime.MemStats
// HeapAlloc. Start, Warm and End are taken after a garbage collection with
// the same objects alive (the Writer, its lanes, the producers' buffers):
// Start before any message, Warm once the buffers have grown to their
// working size (after a tenth of the run, at most 5 s), End when the
// producers have stopped. A leak shows as End well above Warm. Peak is the
// largest value sampled every 100 ms while the producers ran, garbage
// included.
type SoakResult struct {
	Duration   time.Duration // producers released to producers stopped
	Producers  int
	Messages   int64 // accepted, delivered and verified
	Bytes      int64
	MsgsPerSec float64
	MBPerSec   float64
	HeapStart  uint64
	HeapWarm   uint64
	HeapEnd    uint64
	HeapPeak   uint64
	Stats      fanin.Stats // the Writer's, after Close
}

// String is the soak's report, one line per fact.
func (r SoakResult) String() string {
	const mib = 1 << 20
	return fmt.Sprintf("soak: %v, %d producers, %d messages (%d bytes), verified: zero loss, per-producer order\n"+
		"throughput: %.0f messages/s, %.1f MB/s, %d batches (largest %d messages), %d waits for room\n"+
		"heap: start %.1f MiB, after warm-up %.1f MiB, end %.1f MiB, peak %.1f MiB\n",
		r.Duration.Round(time.Millisecond), r.Producers, r.Messages, r.Bytes,
		r.MsgsPerSec, r.MBPerSec, r.Stats.Batches, r.Stats.MaxBatch, r.Stats.Waits,
		float64(r.HeapStart)/mib, float64(r.HeapWarm)/mib, float64(r.HeapEnd)/mib, float64(r.HeapPeak)/mib)
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// Soak runs cfg and verifies the whole stream at the end: every message each
// producer had accepted arrived exactly once, in order, whole. It returns an
// error if anything was lost, reordered, corrupted or refused, or if ctx
// ends first.
func Soak(ctx context.Context, cfg SoakConfig) (SoakResult, error) {
	if cfg.Lanes == 0 && cfg.Shared == 0 {
		cfg.Lanes, cfg.Shared = DefaultSoakLanes, DefaultSoakShared
	}
	if cfg.MaxSize == 0 {
		cfg.MaxSize = DefaultSoakMaxSize
	}
	if cfg.Duration <= 0 || cfg.Lanes < 0 || cfg.Shared < 0 {
		return SoakResult{}, fmt.Errorf("soak: bad config %+v", cfg)
	}
	producers := cfg.Lanes + cfg.Shared
	// Messages is an upper bound no soak reaches; VerifySent checks what
	// each producer actually sent.
	h := wire.Header{Mode: wire.Varied, Producers: producers, Messages: int(wire.MaxMessages), Size: cfg.MaxSize, Label: "soak"}
	if err := h.Validate(); err != nil {
		return SoakResult{}, fmt.Errorf("soak: %w", err)
	}

	// The receiving end: loopback TCP into a verifier.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return SoakResult{}, err
	}
	defer ln.Close()
	v := wire.NewVerifier(h)
	received := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			received <- err
			return
		}
		defer c.Close()
		buf := make([]byte, 256<<10)
		for {
			n, err := c.Read(buf)
			v.Write(buf[:n])
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				received <- err
				return
			}
		}
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return SoakResult{}, err
	}
	defer conn.Close()
	w := fanin.NewWriter(conn, fanin.WithCapacity(cfg.Capacity))

	// Producers: set up, then parked until the clock starts.
	var (
		stop  atomic.Bool
		start = make(chan struct{})
		wg    sync.WaitGroup
		sent  = make([]int, producers)
		errMu sync.Mutex
		first error
	)
	for p := range producers {
		var write func([]byte) (int, error) = w.Write
		var lane *fanin.Lane
		if p < cfg.Lanes {
			lane = w.Lane()
			write = lane.Write
		}
		buf := make([]byte, 0, cfg.MaxSize)
		wg.Go(func() {
			if lane != nil {
				defer lane.Close()
			}
			<-start
			seq := 0
			for !stop.Load() {
				buf = wire.AppendMessage(buf[:0], h, p, seq)
				if _, err := write(buf); err != nil {
					errMu.Lock()
					first = firstErr(first, fmt.Errorf("producer %d seq %d: %w", p, seq, err))
					errMu.Unlock()
					break
				}
				seq++
			}
			sent[p] = seq
		})
	}

	res := SoakResult{Producers: producers, HeapStart: liveHeap()}
	res.HeapPeak = res.HeapStart
	sampler := time.NewTicker(soakSample)
	defer sampler.Stop()
	deadline := time.NewTimer(cfg.Duration)
	defer deadline.Stop()
	warm := time.NewTimer(min(cfg.Duration/10, 5*time.Second))
	defer warm.Stop()
	began := time.Now()
	close(start)
	var ctxErr error
loop:
	for {
		select {
		case <-sampler.C:
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			res.HeapPeak = max(res.HeapPeak, ms.HeapAlloc)
		case <-warm.C:
			res.HeapWarm = liveHeap()
		case <-deadline.C:
			break loop
		case <-ctx.Done():
			ctxErr = ctx.Err()
			break loop
		}
	}
	stop.Store(true)
	wg.Wait()
	res.Duration = time.Since(began)
	res.HeapEnd = liveHeap()

	closeErr := w.Close()
	conn.Close() // the verifier sees EOF after the last byte
	recvErr := <-received
	res.Stats = w.Stats()
	for _, n := range sent {
		res.Messages += int64(n)
	}
	res.Bytes = int64(res.Stats.Bytes)
	if secs := res.Duration.Seconds(); secs > 0 {
		res.MsgsPerSec = float64(res.Messages) / secs
		res.MBPerSec = float64(res.Bytes) / secs / 1e6
	}
	switch {
	case ctxErr != nil:
		return res, ctxErr
	case first != nil:
		return res, fmt.Errorf("soak: a write failed: %w", first)
	case closeErr != nil:
		return res, fmt.Errorf("soak: Writer.Close: %w", closeErr)
	case recvErr != nil:
		return res, fmt.Errorf("soak: receiving: %w", recvErr)
	}
	if s := res.Stats; s.Accepted != uint64(res.Messages) || s.Delivered != s.Accepted || s.Undelivered != 0 {
		return res, fmt.Errorf("soak: Writer stats %+v, the producers sent %d", s, res.Messages)
	}
	if err := v.VerifySent(sent); err != nil {
		return res, fmt.Errorf("soak: %w", err)
	}
	return res, nil
}

// firstErr keeps the first error.
func firstErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}
