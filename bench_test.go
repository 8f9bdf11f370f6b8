package fanin_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/fanin-dev/fanin"
)

// Each benchmark op is one round: every producer sends its share of
// roundMessages one-byte messages and the consumer takes all of them. The
// ns/msg metric divides by messages, so rounds of different producer counts
// compare directly; allocs/op is per round.
const roundMessages = 1 << 16

var producerCounts = []int{1, 16, 256, 4096}

// fanInCase is one way to move messages: send is called by producer
// goroutine w (with its own state from newProducer), receive by the single
// consumer, which returns how many messages it got.
type fanInCase struct {
	name        string
	newProducer func() (send func(byte), done func())
	receive     func() int
	close       func()
}

func BenchmarkFanIn(b *testing.B) {
	ctx := context.Background()
	cases := []func() fanInCase{
		func() fanInCase {
			ch := make(chan byte, 1024)
			return fanInCase{
				name:        "chan",
				newProducer: func() (func(byte), func()) { return func(v byte) { ch <- v }, func() {} },
				receive:     func() int { <-ch; return 1 },
				close:       func() {},
			}
		},
		func() fanInCase {
			q := fanin.NewQueue[byte]()
			var batch []byte
			return fanInCase{
				name:        "Queue.Push",
				newProducer: func() (func(byte), func()) { return func(v byte) { q.Push(ctx, v) }, func() {} },
				receive: func() int {
					batch, _ = q.Drain(ctx, batch)
					return len(batch)
				},
				close: func() { q.Close() },
			}
		},
		func() fanInCase {
			q := fanin.NewQueue[byte]()
			var batch []byte
			return fanInCase{
				name: "Producer.Push",
				newProducer: func() (func(byte), func()) {
					p := q.Producer()
					return func(v byte) { p.Push(ctx, v) }, func() { p.Close() }
				},
				receive: func() int {
					batch, _ = q.Drain(ctx, batch)
					return len(batch)
				},
				close: func() { q.Close() },
			}
		},
		func() fanInCase {
			cw := &countingWriter{n: make(chan int, 1<<16)}
			w := fanin.NewWriter(cw)
			return fanInCase{
				name: "Writer.Write",
				newProducer: func() (func(byte), func()) {
					var m [1]byte
					return func(v byte) { m[0] = v; w.Write(m[:]) }, func() {}
				},
				receive: func() int { return <-cw.n },
				close:   func() { w.Close() },
			}
		},
		func() fanInCase {
			cw := &countingWriter{n: make(chan int, 1<<16)}
			w := fanin.NewWriter(cw)
			return fanInCase{
				name: "Lane.Write",
				newProducer: func() (func(byte), func()) {
					l := w.Lane()
					var m [1]byte
					return func(v byte) { m[0] = v; l.Write(m[:]) }, func() { l.Close() }
				},
				receive: func() int { return <-cw.n },
				close:   func() { w.Close() },
			}
		},
	}
	for _, mk := range cases {
		for _, producers := range producerCounts {
			c := mk()
			b.Run(fmt.Sprintf("%s/producers=%d", c.name, producers), func(b *testing.B) {
				benchRounds(b, c, producers)
			})
			c.close()
		}
	}
}

// countingWriter stands for a sink that takes any write at once; it reports
// each write's size to the benchmark's consumer.
type countingWriter struct{ n chan int }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n <- len(p)
	return len(p), nil
}

func benchRounds(b *testing.B, c fanInCase, producers int) {
	per := roundMessages / producers
	total := per * producers
	start := make([]chan struct{}, producers)
	stop := make(chan struct{})
	finished := make(chan struct{}, producers)
	for w := range producers {
		start[w] = make(chan struct{}, 1)
		send, done := c.newProducer()
		go func() {
			defer func() { done(); finished <- struct{}{} }()
			for {
				select {
				case <-start[w]:
				case <-stop:
					return
				}
				for i := range per {
					send(byte(i))
				}
			}
		}()
	}
	b.ReportAllocs()
	begin := time.Now()
	for b.Loop() {
		for _, s := range start {
			s <- struct{}{}
		}
		for got := 0; got < total; {
			got += c.receive()
		}
	}
	b.ReportMetric(float64(time.Since(begin).Nanoseconds())/float64(b.N*total), "ns/msg")
	close(stop)
	for range producers {
		<-finished
	}
}

// BenchmarkDrain measures the consumer's side alone: taking a full buffer of
// one-byte messages from the shared path and from 64 lanes. Each round fills
// the queue with PushBatch (one call per producer) and drains it; the
// drain-ns/msg metric times the Drain call alone. StopTimer is not used: it
// stops the world twice per round, and b.Loop, which sizes the run by the
// timed part only, would then run for minutes.
func BenchmarkDrain(b *testing.B) {
	ctx := context.Background()
	for _, lanes := range []int{0, 64} {
		b.Run(fmt.Sprintf("lanes=%d", lanes), func(b *testing.B) {
			q := fanin.NewQueue[byte](fanin.WithCapacity(roundMessages))
			defer q.Close()
			var ps []*fanin.Producer[byte]
			for range lanes {
				ps = append(ps, q.Producer())
			}
			round := make([]byte, roundMessages)
			var batch []byte
			var draining time.Duration
			b.ReportAllocs()
			for b.Loop() {
				if lanes == 0 {
					q.PushBatch(ctx, round)
				} else {
					per := roundMessages / lanes
					for i, p := range ps {
						p.PushBatch(ctx, round[i*per:(i+1)*per])
					}
				}
				begin := time.Now()
				batch, _ = q.Drain(ctx, batch)
				draining += time.Since(begin)
				if len(batch) != roundMessages {
					b.Fatalf("drained %d", len(batch))
				}
			}
			b.ReportMetric(float64(draining.Nanoseconds())/float64(b.N*roundMessages), "drain-ns/msg")
			for _, p := range ps {
				p.Close()
			}
		})
	}
}

// BenchmarkOneProducer measures a push with nobody else at the queue: one
// goroutine pushes 1000 one-byte messages through a function value, as the
// matrix's producers do, then drains them itself. This is what a lone
// producer pays while the consumer waits for a CPU (at 1 producer in the
// matrix, the whole burst is written before the consumer runs).
// mutex-append is the baseline: mutex-swap's push, a sync.Mutex around an
// append, and its swap. PushBatch of one element is the shared path that
// Writer.Write takes.
func BenchmarkOneProducer(b *testing.B) {
	const burst = 1000
	ctx := context.Background()
	msg := []byte{1}
	bench := func(b *testing.B, push func([]byte), drain func() int) {
		b.ReportAllocs()
		for b.Loop() {
			for range burst {
				push(msg)
			}
			if n := drain(); n != burst {
				b.Fatalf("drained %d, want %d", n, burst)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*burst), "ns/msg")
	}
	b.Run("mutex-append", func(b *testing.B) {
		m := &mutexAppend{buf: make([]byte, 0, burst)}
		spare := make([]byte, 0, burst)
		bench(b, m.push, func() int {
			full := m.swap(spare)
			spare = full
			return len(full)
		})
	})
	q := fanin.NewQueue[byte]()
	defer q.Close()
	var batch []byte
	drain := func() int {
		batch, _ = q.Drain(ctx, batch)
		return len(batch)
	}
	b.Run("Queue.PushBatch", func(b *testing.B) {
		bench(b, func(m []byte) { q.PushBatch(ctx, m) }, drain)
	})
	b.Run("Queue.Push", func(b *testing.B) {
		bench(b, func(m []byte) { q.Push(ctx, m[0]) }, drain)
	})
	b.Run("Producer.PushBatch", func(b *testing.B) {
		p := q.Producer()
		defer p.Close()
		bench(b, func(m []byte) { p.PushBatch(ctx, m) }, drain)
	})
}

// mutexAppend is mutex-swap's queue, without its bound and wake-up.
type mutexAppend struct {
	mu  sync.Mutex
	buf []byte
}

//go:noinline
func (m *mutexAppend) push(msg []byte) {
	m.mu.Lock()
	m.buf = append(m.buf, msg...)
	m.mu.Unlock()
}

// swap returns the buffer and puts spare, emptied, in its place.
func (m *mutexAppend) swap(spare []byte) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	full := m.buf
	m.buf = spare[:0]
	return full
}

// BenchmarkLanesAgainstTheBound is the matrix's largest cell without the
// harness: 8192 lanes write 1000 one-byte messages each through a Writer to
// loopback TCP, with the matrix's 1 MiB capacity and with 16 MiB, which holds
// every lane's 1000 bytes. It shows what the bound costs at this count:
// with 1 MiB producers park for room (waits/lane), each wait a goroutine
// switch. ns/msg times the writes and the final Close, not the setup.
func BenchmarkLanesAgainstTheBound(b *testing.B) {
	const lanes, messages = 8192, 1000
	for _, capacity := range []int{1 << 20, 16 << 20} {
		b.Run(fmt.Sprintf("capacity=%dMiB", capacity>>20), func(b *testing.B) {
			conn := discardingConn(b)
			var timed time.Duration
			var waits uint64
			for b.Loop() {
				w := fanin.NewWriter(conn, fanin.WithCapacity(capacity))
				start := make(chan struct{})
				var ready, done sync.WaitGroup
				ready.Add(lanes)
				for range lanes {
					l := w.Lane()
					done.Go(func() {
						msg := []byte{0}
						ready.Done()
						<-start
						for i := range messages {
							msg[0] = byte(i)
							l.Write(msg)
						}
						l.Close()
					})
				}
				ready.Wait()
				begin := time.Now()
				close(start)
				done.Wait()
				if err := w.Close(); err != nil {
					b.Fatal(err)
				}
				timed += time.Since(begin)
				s := w.Stats()
				if s.Bytes != lanes*messages {
					b.Fatalf("%d bytes written, want %d", s.Bytes, lanes*messages)
				}
				waits += s.Waits
			}
			b.ReportMetric(float64(timed.Nanoseconds())/float64(b.N*lanes*messages), "ns/msg")
			b.ReportMetric(float64(waits)/float64(b.N*lanes), "waits/lane")
		})
	}
}

// discardingConn returns one end of a loopback TCP connection whose other end
// reads and discards everything; both are closed when tb ends.
func discardingConn(tb testing.TB) net.Conn {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	read := make(chan struct{})
	go func() {
		defer close(read)
		if c, err := ln.Accept(); err == nil {
			io.Copy(io.Discard, c)
			c.Close()
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		c.Close()
		<-read
	})
	return c
}

var _ io.Writer = (*countingWriter)(nil)
