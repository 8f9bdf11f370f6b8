package fanin_test

import (
	"context"
	"io"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/fanin-dev/fanin"
)

// Steady state allocates nothing per message: the buffers are swapped, the
// lane chunks recycled.
func TestZeroAllocsPerMessage(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	ctx := context.Background()
	const batch = 1000

	q := fanin.NewQueue[byte](fanin.WithCapacity(batch))
	lane := q.Producer()
	var spare []byte
	round := func(push func(byte) error) {
		for i := range batch / 2 {
			if err := push(byte(i)); err != nil {
				t.Fatal(err)
			}
		}
		b, err := q.Drain(ctx, spare)
		if err != nil || len(b) != batch/2 {
			t.Fatalf("Drain = %d messages, %v", len(b), err)
		}
		spare = b
	}
	shared := func(v byte) error { return q.Push(ctx, v) }
	for name, push := range map[string]func(byte) error{"Queue.Push": shared, "Producer.Push": func(v byte) error { return lane.Push(ctx, v) }} {
		round(push) // warm up: buffers and chunks grow to size
		round(push)
		if a := fanin.LeastAllocs(func() float64 { return testing.AllocsPerRun(20, func() { round(push) }) }); a != 0 {
			t.Errorf("%s + Drain: %v allocations per %d messages, want 0", name, a, batch/2)
		}
	}

	w := fanin.NewWriter(io.Discard, fanin.WithCapacity(1<<16))
	defer w.Close()
	wl := w.Lane()
	defer wl.Close()
	msg := []byte("a message of some bytes")
	writes := func() {
		for range batch {
			w.Write(msg)
			wl.Write(msg)
		}
		w.Flush()
	}
	writes()
	if a := fanin.LeastAllocs(func() float64 { return testing.AllocsPerRun(20, writes) }); a != 0 {
		t.Errorf("Writer.Write + Lane.Write + Flush: %v allocations per %d messages, want 0", a, 2*batch)
	}
}

// The library is what users import: it must depend on the standard library
// only.
func TestImportsOnlyStandardLibrary(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg != "github.com/fanin-dev/fanin" {
			t.Errorf("package fanin depends on %s", pkg)
		}
	}
}

// A new Writer takes its first few kilobytes without allocating: its
// buffers start at writerFirstBuffer, not at a few bytes.
func TestWriterFirstWritesDoNotAllocate(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	msg := make([]byte, 16)
	firstWrites := func() float64 {
		w := fanin.NewWriter(io.Discard)
		defer w.Close()
		w.Flush() // the flusher has started
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range 2 {
			for range 200 { // 3200 bytes: less than the first buffer
				w.Write(msg)
			}
			w.Flush()
		}
		runtime.ReadMemStats(&after)
		return float64(after.Mallocs - before.Mallocs)
	}
	tolerated := 0.0 // growing the buffers from a few bytes takes 22
	if fanin.RaceEnabled {
		tolerated = 3 // the race detector's runtime allocates now and then
	}
	if n := fanin.LeastAllocs(firstWrites); n > tolerated {
		t.Errorf("%v allocations for a new Writer's first 6400 bytes, want 0", n)
	}
}

// A lane's first push allocates nothing, before or after a drain: its
// chunk, and room on the consumer's ready list for every open lane, are
// made when it opens.
func TestLanesFirstPushesDoNotAllocate(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	ctx := context.Background()
	firstPushes := func() float64 {
		q := fanin.NewQueue[int]()
		defer q.Close()
		ps := make([]*fanin.Producer[int], 4)
		for i := range ps {
			ps[i] = q.Producer()
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for i, p := range ps {
			p.Push(ctx, i)
		}
		runtime.ReadMemStats(&after)
		allocs := after.Mallocs - before.Mallocs
		if batch, _ := q.Drain(ctx, make([]int, 0, 8)); len(batch) != len(ps) {
			t.Fatalf("drained %v", batch)
		}
		runtime.ReadMemStats(&before)
		for i, p := range ps {
			p.Push(ctx, i)
		}
		runtime.ReadMemStats(&after)
		return float64(allocs + after.Mallocs - before.Mallocs)
	}
	tolerated := 0.0 // growing the ready list from nil took 3 and 3
	if fanin.RaceEnabled {
		tolerated = 3
	}
	if n := fanin.LeastAllocs(firstPushes); n > tolerated {
		t.Errorf("%v allocations for the first pushes of 4 new lanes, want 0", n)
	}
}

// Over TCP, where lane data is written with one vectored write straight
// from the lanes' chunks, steady state allocates nothing either.
func TestWriterOverTCPDoesNotAllocate(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	w := fanin.NewWriter(discardingConn(t), fanin.WithCapacity(1<<16))
	wl := w.Lane()
	defer func() {
		wl.Close()
		w.Close()
	}()
	msg := []byte("a message of some bytes")
	writes := func() {
		for range 1000 {
			w.Write(msg)
			wl.Write(msg)
		}
		w.Flush()
	}
	for range 3 { // warm up: buffers, chunks and the socket's vectors
		writes()
	}
	if a := fanin.LeastAllocs(func() float64 { return testing.AllocsPerRun(50, writes) }); a != 0 {
		t.Errorf("Writer.Write + Lane.Write + Flush over TCP: %v allocations per 2000 messages, want 0", a)
	}
}
