package fanin_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/fanin-dev/fanin"
)

// The model tests run many small, seeded scenarios of random operations from
// several goroutines at once and check the outcome against a model simple
// enough to be obviously right: every producer's accepted messages, in the
// order it pushed them, must be exactly what the consumer received from it.
// The scripts are fixed by the seed; the interleaving is whatever the
// scheduler (and -race) makes of them, so every run explores new ones. A
// failure names its seed: rerun it with -run 'TestQueueModel/seed=N$'.

// modelMsg is one message: which producer (a goroutine's shared path or one
// of its lanes) sent it, its place in that producer's sequence of attempts,
// and the seq of the first message of its batch, so that the check can see
// a batch split by another producer's message.
type modelMsg struct{ producer, seq, first int32 }

// modelOp is one step of a goroutine's script.
type modelOp struct {
	kind    opKind
	n       int           // batch length for pushBatch
	ctxKind ctxKind       // the context the step uses
	timeout time.Duration // for ctxTimeout
}

type opKind int

const (
	opPush opKind = iota
	opTryPush
	opPushBatch
	opNewLane   // close the current lane (if any) and open a new one
	opCloseLane // close the current lane; later steps use the shared path
	opClose     // close the queue
	opStats     // read Stats and Len concurrently with everything else
	numOps
)

type ctxKind int

const (
	ctxBackground ctxKind = iota // never ends
	ctxCancelled                 // already cancelled
	ctxTimeout                   // ends after a short, random time
)

// modelScenario is everything a seed fixes.
type modelScenario struct {
	capacity int
	maxDelay time.Duration
	scripts  [][]modelOp
	closeAt  int // the main goroutine closes the queue once this many messages are accepted; -1: only at the end
}

func newModelScenario(rng *rand.Rand) modelScenario {
	caps := []int{1, 2, 3, 5, 8, 16, 64, 300}
	s := modelScenario{capacity: caps[rng.IntN(len(caps))], closeAt: -1}
	if rng.IntN(8) == 0 {
		s.maxDelay = time.Duration(1+rng.IntN(50)) * time.Microsecond
	}
	if rng.IntN(3) == 0 {
		s.closeAt = rng.IntN(1000)
	}
	for range 1 + rng.IntN(8) {
		var script []modelOp
		for range rng.IntN(400) {
			// Mostly pushes; the rest open, close and inspect.
			op := modelOp{kind: opKind(rng.IntN(3))}
			if rng.IntN(5) == 0 {
				op.kind = opKind(rng.IntN(int(numOps)))
			}
			switch op.kind {
			case opClose:
				op.kind = opStats // placed below instead
			case opPushBatch:
				op.n = rng.IntN(min(s.capacity, 12) + 2) // sometimes empty, sometimes too large
			}
			switch r := rng.IntN(10); {
			case r == 0:
				op.ctxKind = ctxCancelled
			case r <= 2:
				op.ctxKind = ctxTimeout
				op.timeout = time.Duration(rng.IntN(200)) * time.Microsecond
			}
			script = append(script, op)
		}
		s.scripts = append(s.scripts, script)
	}
	// Sometimes one goroutine closes the queue partway through its script.
	if g := rng.IntN(len(s.scripts)); rng.IntN(4) == 0 && len(s.scripts[g]) > 0 {
		at := rng.IntN(len(s.scripts[g]))
		s.scripts[g] = append(s.scripts[g][:at:at], append([]modelOp{{kind: opClose}}, s.scripts[g][at:]...)...)
	}
	return s
}

// producerLog is the model's record of one producer: the messages it had
// accepted, in push order.
type producerLog struct {
	accepted []modelMsg
}

// checkModel checks the delivered stream against the producers' logs:
// exactly the accepted messages, each once, in each producer's order, batches
// contiguous.
func checkModel(t *testing.T, got []modelMsg, logs []*producerLog) {
	t.Helper()
	next := make([]int, len(logs))
	for i, m := range got {
		if int(m.producer) >= len(logs) {
			t.Fatalf("delivered %+v from an unknown producer", m)
		}
		acc := logs[m.producer].accepted
		k := next[m.producer]
		if k >= len(acc) || acc[k] != m {
			want := "nothing more"
			if k < len(acc) {
				want = fmt.Sprintf("%+v", acc[k])
			}
			t.Fatalf("delivery %d is %+v, want %s from that producer (lost, duplicated, reordered, or refused yet delivered)", i, m, want)
		}
		next[m.producer]++
		if m.seq != m.first && (i == 0 || got[i-1] != modelMsg{m.producer, m.seq - 1, m.first}) {
			t.Fatalf("delivery %d (%+v): its batch was split", i, m)
		}
	}
	for p, l := range logs {
		if next[p] != len(l.accepted) {
			t.Fatalf("producer %d: %d of %d accepted messages delivered; first missing %+v",
				p, next[p], len(l.accepted), l.accepted[next[p]])
		}
	}
}

// TestQueueModel: for 200 seeds, goroutines run random scripts of Push,
// TryPush, PushBatch on the shared path and on lanes they open and close,
// with contexts that are background, already cancelled or short-lived;
// one may close the queue, the main goroutine may close it at a random
// moment; one consumer drains with random spares and contexts. Checked:
// exactly the accepted messages are delivered, once each, in each producer's
// order, batches unsplit; each error is one the call may return; a batch
// never exceeds the capacity; after io.EOF, Stats.Accepted ==
// Stats.Delivered == the model's count.
func TestQueueModel(t *testing.T) {
	seeds := 200
	if testing.Short() {
		seeds = 40
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			t.Parallel()
			runQueueModel(t, uint64(seed))
		})
	}
}

func runQueueModel(t *testing.T, seed uint64) {
	sc := newModelScenario(rand.New(rand.NewPCG(seed, 0xfa7)))
	q := fanin.NewQueue[modelMsg](fanin.WithCapacity(sc.capacity), fanin.WithMaxDelay(sc.maxDelay))
	base := t.Context()

	var (
		logsMu sync.Mutex
		logs   []*producerLog
	)
	newProducer := func() (int32, *producerLog) {
		logsMu.Lock()
		defer logsMu.Unlock()
		l := &producerLog{}
		logs = append(logs, l)
		return int32(len(logs) - 1), l
	}

	// The consumer.
	var got []modelMsg
	consumerDone := make(chan struct{})
	go func() {
		defer close(consumerDone)
		rng := rand.New(rand.NewPCG(seed, 0xc0))
		var spare []modelMsg
		for {
			ctx, cancel := base, context.CancelFunc(func() {})
			if rng.IntN(4) == 0 {
				ctx, cancel = context.WithTimeout(base, time.Duration(rng.IntN(100))*time.Microsecond)
			}
			b, err := q.Drain(ctx, spare)
			cancel()
			switch {
			case errors.Is(err, io.EOF):
				if b, err := q.Drain(base, nil); len(b) != 0 || !errors.Is(err, io.EOF) {
					t.Errorf("Drain after io.EOF = %d messages, %v; want io.EOF again", len(b), err)
				}
				return
			case errors.Is(err, context.DeadlineExceeded):
				if len(b) != 0 {
					t.Errorf("Drain returned %d messages with %v", len(b), err)
				}
				continue
			case err != nil:
				t.Errorf("Drain: %v", err)
				return
			}
			if len(b) == 0 || len(b) > sc.capacity {
				t.Errorf("Drain returned a batch of %d with capacity %d", len(b), sc.capacity)
			}
			got = append(got, b...)
			if rng.IntN(3) == 0 {
				spare = nil
			} else {
				spare = b
			}
		}
	}()

	var wg sync.WaitGroup
	for g, script := range sc.scripts {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(seed, uint64(g)+1))
			_ = rng
			sharedID, shared := newProducer()
			var (
				lane   *fanin.Producer[modelMsg]
				laneID int32
				laneLg *producerLog
				closed bool // this goroutine's own Close returned
			)
			// seqs counts attempts per producer, so a refused message
			// leaves a gap that the check would notice if it arrived.
			seqs := map[int32]int32{}
			for _, op := range script {
				ctx, cancel := base, context.CancelFunc(func() {})
				switch op.ctxKind {
				case ctxCancelled:
					ctx, cancel = context.WithCancel(base)
					cancel()
				case ctxTimeout:
					ctx, cancel = context.WithTimeout(base, op.timeout)
				}
				id, lg := sharedID, shared
				if lane != nil {
					id, lg = laneID, laneLg
				}
				var (
					err  error
					msgs []modelMsg
				)
				switch op.kind {
				case opPush, opTryPush, opPushBatch:
					n := 1
					if op.kind == opPushBatch {
						n = op.n
					}
					first := seqs[id]
					for i := range int32(n) {
						msgs = append(msgs, modelMsg{id, first + i, first})
					}
					seqs[id] += int32(n)
					switch {
					case op.kind == opPush && lane != nil:
						err = lane.Push(ctx, msgs[0])
					case op.kind == opPush:
						err = q.Push(ctx, msgs[0])
					case op.kind == opTryPush && lane != nil:
						err = lane.TryPush(msgs[0])
					case op.kind == opTryPush:
						err = q.TryPush(msgs[0])
					case lane != nil:
						err = lane.PushBatch(ctx, msgs)
					default:
						err = q.PushBatch(ctx, msgs)
					}
				case opNewLane:
					if lane != nil {
						lane.Close()
					}
					lane = q.Producer()
					laneID, laneLg = newProducer()
				case opCloseLane:
					if lane != nil {
						lane.Close()
						if err := lane.Push(base, modelMsg{laneID, -1, -1}); !errors.Is(err, fanin.ErrClosed) {
							t.Errorf("Push on a closed lane = %v, want ErrClosed", err)
						}
						lane = nil
					}
				case opClose:
					if err := q.Close(); err != nil {
						t.Errorf("Close = %v", err)
					}
					closed = true
				case opStats:
					s := q.Stats()
					if s.Buffered > uint64(sc.capacity) || s.Delivered > s.Accepted {
						t.Errorf("Stats = %+v with capacity %d", s, sc.capacity)
					}
					q.Len()
				}
				cancel()
				if err == nil {
					if len(msgs) > 0 {
						lg.accepted = append(lg.accepted, msgs...)
					}
					if closed && len(msgs) > 0 {
						t.Errorf("%v of %d messages accepted after this goroutine's Close returned", op.kind, len(msgs))
					}
					continue
				}
				// The error must be one this call may return.
				ok := errors.Is(err, fanin.ErrClosed) ||
					(op.kind == opTryPush && errors.Is(err, fanin.ErrFull)) ||
					(op.kind == opPushBatch && len(msgs) > sc.capacity && errors.Is(err, fanin.ErrTooLarge)) ||
					(op.kind != opTryPush && op.ctxKind != ctxBackground &&
						(errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)))
				if !ok || (closed && !errors.Is(err, fanin.ErrClosed) && !errors.Is(err, fanin.ErrTooLarge)) {
					t.Errorf("op %v (batch %d, ctx %v, closed %v) returned %v", op.kind, len(msgs), op.ctxKind, closed, err)
				}
			}
			// Leave every other lane open: an open lane's messages must be
			// delivered too.
			if lane != nil && g%2 == 0 {
				lane.Close()
			}
		})
	}

	producersDone := make(chan struct{})
	go func() {
		wg.Wait()
		close(producersDone)
	}()
	if sc.closeAt >= 0 {
	wait:
		for q.Stats().Accepted < uint64(sc.closeAt) {
			select {
			case <-producersDone:
				break wait
			default:
				runtime.Gosched()
			}
		}
		q.Close()
	}
	<-producersDone
	q.Close()
	<-consumerDone
	if t.Failed() {
		return
	}
	checkModel(t, got, logs)
	total := uint64(0)
	for _, l := range logs {
		total += uint64(len(l.accepted))
	}
	s := q.Stats()
	if s.Accepted != total || s.Delivered != total || s.Buffered != 0 || s.Undelivered != 0 {
		t.Fatalf("Stats = %+v after io.EOF; the model accepted %d", s, total)
	}
}

func (k opKind) String() string {
	return [...]string{"Push", "TryPush", "PushBatch", "NewLane", "CloseLane", "Close", "Stats"}[k]
}

func (k ctxKind) String() string {
	return [...]string{"background", "cancelled", "timeout"}[k]
}

// failingDest is a destination that takes failAt bytes (all, if failAt is 0)
// and then fails every Write, like a connection reset midway.
type failingDest struct {
	mu     sync.Mutex
	data   []byte
	failAt int
	failed bool
	err    error
}

func (d *failingDest) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.failed {
		return 0, d.err
	}
	if d.failAt > 0 && len(d.data)+len(p) > d.failAt {
		n := d.failAt - len(d.data)
		d.data = append(d.data, p[:n]...)
		d.failed = true
		return n, d.err
	}
	d.data = append(d.data, p...)
	return len(p), nil
}

// TestWriterModel: for 100 seeds, goroutines write random messages through
// the Writer and through lanes they open and close, with contexts that are
// background, already cancelled or short-lived, and call Flush; the main
// goroutine may close the Writer midway; the destination fails after a
// random number of bytes, or never. Checked: each error is one the call
// may return; once a goroutine has seen the destination's error, every later
// write of its returns it (errors.Is); after Close, Write, Lane.Write, Flush
// and Close all return it; Delivered + Undelivered == Accepted == the
// model's count; the bytes Stats reports as written hold exactly Delivered
// whole messages, each producer's a prefix of what it had accepted, in order;
// without a failure, every accepted message arrived.
func TestWriterModel(t *testing.T) {
	seeds := 100
	if testing.Short() {
		seeds = 20
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			t.Parallel()
			runWriterModel(t, uint64(seed))
		})
	}
}

func runWriterModel(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x3717e5))
	caps := []int{40, 64, 256, 4096}
	capacity := caps[rng.IntN(len(caps))]
	boom := errors.New("connection reset by peer")
	dst := &failingDest{err: boom}
	if rng.IntN(4) != 0 {
		dst.failAt = 1 + rng.IntN(20000)
	}
	opts := []fanin.Option{fanin.WithCapacity(capacity)}
	if rng.IntN(8) == 0 {
		opts = append(opts, fanin.WithMaxDelay(time.Duration(1+rng.IntN(50))*time.Microsecond))
	}
	w := fanin.NewWriter(dst, opts...)
	closeAt := -1 // close the Writer once this many messages are accepted
	if rng.IntN(4) == 0 {
		closeAt = rng.IntN(500)
	}
	base := t.Context()

	var (
		logsMu sync.Mutex
		logs   [][]int // per producer: the seqs accepted, in order
	)
	newProducer := func() int {
		logsMu.Lock()
		defer logsMu.Unlock()
		logs = append(logs, nil)
		return len(logs) - 1
	}
	accept := func(p, seq int) {
		logsMu.Lock()
		defer logsMu.Unlock()
		logs[p] = append(logs[p], seq)
	}

	var wg sync.WaitGroup
	for g := range 1 + rng.IntN(8) {
		ops := rng.IntN(300)
		grng := rand.New(rand.NewPCG(seed, uint64(g)+1))
		wg.Go(func() {
			shared := newProducer()
			var (
				lane   *fanin.Lane
				laneID int
				seen   bool // this goroutine has seen the destination's error
			)
			// Report a goroutine's first violation only: the rest follow from it.
			failed := false
			errorf := func(format string, args ...any) {
				if !failed {
					failed = true
					t.Errorf("goroutine %d: "+format, append([]any{g}, args...)...)
				}
			}
			seqs := map[int]int{}
			for range ops {
				switch r := grng.IntN(40); {
				case r == 0:
					if lane != nil {
						lane.Close()
					}
					lane, laneID = w.Lane(), newProducer()
					continue
				case r == 1:
					if lane != nil {
						lane.Close()
						lane = nil
					}
					continue
				case r == 2:
					if err := w.Flush(); err != nil && !errors.Is(err, boom) {
						errorf("Flush = %v", err)
					} else if err != nil {
						seen = true
					} else if seen {
						errorf("Flush = nil after the destination failed")
					}
					continue
				}
				ctx, cancel := base, context.CancelFunc(func() {})
				mayEnd := true
				switch grng.IntN(10) {
				case 0:
					ctx, cancel = context.WithCancel(base)
					cancel()
				case 1, 2:
					ctx, cancel = context.WithTimeout(base, time.Duration(grng.IntN(200))*time.Microsecond)
				default:
					mayEnd = false
				}
				id := shared
				if lane != nil {
					id = laneID
				}
				seq := seqs[id]
				seqs[id]++
				m := message(id, seq)
				var (
					n   int
					err error
				)
				if lane != nil {
					n, err = lane.WriteContext(ctx, m)
				} else {
					n, err = w.WriteContext(ctx, m)
				}
				cancel()
				switch {
				case err == nil && n == len(m):
					accept(id, seq)
					if seen {
						errorf("write accepted after this goroutine saw the destination fail")
					}
				case errors.Is(err, boom):
					seen = true
				case seen && !(len(m) > capacity && errors.Is(err, fanin.ErrTooLarge)):
					errorf("write = %v after the destination failed; want its error", err)
				case errors.Is(err, fanin.ErrClosed),
					len(m) > capacity && errors.Is(err, fanin.ErrTooLarge),
					mayEnd && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
				default:
					errorf("write of %d bytes = %d, %v", len(m), n, err)
				}
			}
			if lane != nil && g%2 == 0 {
				lane.Close() // the others stay open: Close must still deliver them
			}
		})
	}

	producersDone := make(chan struct{})
	go func() {
		wg.Wait()
		close(producersDone)
	}()
	if closeAt >= 0 {
	wait:
		for w.Stats().Accepted < uint64(closeAt) {
			select {
			case <-producersDone:
				break wait
			default:
				runtime.Gosched()
			}
		}
		if err := w.Close(); err != nil && !errors.Is(err, boom) {
			t.Errorf("Close = %v", err)
		}
	}
	<-producersDone
	closeErr := w.Close()
	dst.mu.Lock()
	failed, data := dst.failed, dst.data
	dst.mu.Unlock()

	// Every later call reports the outcome.
	wantLater := fanin.ErrClosed
	if failed {
		wantLater = boom
		if !errors.Is(closeErr, boom) {
			t.Fatalf("Close = %v after the destination failed", closeErr)
		}
		if err := w.Flush(); !errors.Is(err, boom) {
			t.Errorf("Flush after Close = %v, want the destination's error", err)
		}
	} else if closeErr != nil {
		t.Fatalf("Close = %v, the destination never failed", closeErr)
	}
	if _, err := w.Write([]byte("late")); !errors.Is(err, wantLater) {
		t.Errorf("Write after Close = %v, want %v", err, wantLater)
	}
	l := w.Lane()
	if _, err := l.Write([]byte("late")); !errors.Is(err, wantLater) {
		t.Errorf("Lane.Write after Close = %v, want %v", err, wantLater)
	}
	l.Close()
	if err := w.Close(); !errors.Is(err, closeErr) {
		t.Errorf("second Close = %v, want %v", err, closeErr)
	}

	total := 0
	for _, l := range logs {
		total += len(l)
	}
	s := w.Stats()
	if s.Accepted != uint64(total) || s.Delivered+s.Undelivered != s.Accepted || s.Buffered != 0 {
		t.Fatalf("Stats = %+v; the model accepted %d", s, total)
	}
	if !failed && (s.Undelivered != 0 || s.Bytes != uint64(len(data))) {
		t.Fatalf("Stats = %+v with %d bytes at a destination that never failed", s, len(data))
	}
	if s.Bytes > uint64(len(data)) {
		t.Fatalf("Stats.Bytes = %d, the destination holds %d", s.Bytes, len(data))
	}

	// The bytes reported written hold exactly Delivered whole messages.
	stream := data[:s.Bytes]
	next := make([]int, len(logs))
	var delivered uint64
	for len(stream) > 0 {
		if len(stream) < 12 {
			t.Fatalf("a partial message in the bytes reported written")
		}
		n := int(binary.LittleEndian.Uint32(stream))
		p := int(binary.LittleEndian.Uint32(stream[4:]))
		seq := int(binary.LittleEndian.Uint32(stream[8:]))
		if p >= len(logs) || len(stream) < 12+n || !bytes.Equal(stream[:12+n], message(p, seq)) {
			t.Fatalf("message %d: corrupt or split (producer %d seq %d)", delivered, p, seq)
		}
		if next[p] >= len(logs[p]) || logs[p][next[p]] != seq {
			t.Fatalf("message %d: producer %d seq %d; not the next it had accepted", delivered, p, seq)
		}
		next[p]++
		delivered++
		stream = stream[12+n:]
	}
	if delivered != s.Delivered {
		t.Fatalf("%d whole messages written, Stats.Delivered = %d", delivered, s.Delivered)
	}
}

// A lane made after the Writer's destination failed must report the
// destination's error, like every other write, not ErrClosed.
func TestWriterLaneAfterFailure(t *testing.T) {
	boom := errors.New("connection reset by peer")
	w := fanin.NewWriter(&failingDest{failAt: 1, err: boom})
	w.Write([]byte("ab"))
	if err := w.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close = %v", err)
	}
	l := w.Lane()
	defer l.Close()
	if _, err := l.Write([]byte("x")); !errors.Is(err, boom) {
		t.Fatalf("Write on a lane made after the failure = %v, want the destination's error", err)
	}
}

// Once Flush has returned the destination's error, a Write must return it
// too: it must not be accepted (and silently counted as undelivered).
func TestWriterWriteAfterFlushError(t *testing.T) {
	boom := errors.New("connection reset by peer")
	for i := range 2000 {
		w := fanin.NewWriter(&failingDest{failAt: 1, err: boom})
		w.Write([]byte("ab"))
		if err := w.Flush(); !errors.Is(err, boom) {
			t.Fatalf("Flush = %v", err)
		}
		_, err := w.Write([]byte("c"))
		w.Close()
		if !errors.Is(err, boom) {
			t.Fatalf("round %d: Write after Flush returned the destination's error = %v", i, err)
		}
	}
}
