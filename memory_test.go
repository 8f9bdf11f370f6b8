package fanin

import (
	"context"
	"testing"
)

// Lane chunks shrink as lanes open, so that the room lanes hold in chunks
// they have not filled stays within a quarter of the capacity, down to
// minShrunkChunk, and grow back as lanes close.
func TestLaneChunksShrinkAsLanesOpen(t *testing.T) {
	const capacity = 8 << 20
	q := NewQueue[byte](WithCapacity(capacity))
	if q.maxChunk != 4096 {
		t.Fatalf("maxChunk = %d, want 4096 for 8 MiB", q.maxChunk)
	}
	var lanes []*Producer[byte]
	open := func(n int) {
		for len(lanes) < n {
			lanes = append(lanes, q.Producer())
		}
	}
	for _, tc := range []struct{ lanes, chunkLen int }{
		{1, 4096},
		{512, 4096},
		{1024, 2048},
		{2048, 1024},
		{4096, minShrunkChunk},
	} {
		open(tc.lanes)
		if q.chunkLen != tc.chunkLen {
			t.Errorf("with %d lanes, new chunks have %d elements, want %d", tc.lanes, q.chunkLen, tc.chunkLen)
		}
		if got := len(lanes[len(lanes)-1].wchunk.items); got != tc.chunkLen {
			t.Errorf("lane %d got a chunk of %d elements, want %d", tc.lanes, got, tc.chunkLen)
		}
	}

	// A lane fills its 1024-element chunk and moves on; once the drain has
	// read past it, the chunk is pooled, as long as new chunks have its
	// length.
	l := lanes[len(lanes)-1]
	ctx := context.Background()
	for i := range 1500 {
		if err := l.Push(ctx, byte(i)); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := q.Drain(ctx, nil); err != nil || len(b) != 1500 {
		t.Fatalf("Drain = %d elements, %v", len(b), err)
	}
	if len(q.chunks) != 1 || len(q.chunks[0].items) != 1024 {
		t.Fatalf("pool after the drain: %d chunks, want the lane's first", len(q.chunks))
	}
	for _, other := range lanes[:len(lanes)-1] {
		other.Close()
	}
	if q.chunkLen != q.maxChunk {
		t.Errorf("with one lane open, new chunks have %d elements, want %d", q.chunkLen, q.maxChunk)
	}
	// Now a 1024-element chunk the drain reads past is left to the GC.
	for i := range 1000 {
		if err := l.Push(ctx, byte(i)); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := q.Drain(ctx, nil); err != nil || len(b) != 1000 {
		t.Fatalf("Drain = %d elements, %v", len(b), err)
	}
	if len(q.chunks) != 0 {
		t.Fatalf("pool holds %d chunks of %d elements, want none", len(q.chunks), len(q.chunks[0].items))
	}
	l.Close()
	q.Close()
}

// The shared buffer grows as append would, but never past the capacity: it
// can never hold more.
func TestSharedBufferStaysWithinCapacity(t *testing.T) {
	const capacity = 100_000
	q := NewQueue[byte](WithCapacity(capacity))
	msg := make([]byte, 1000)
	for range capacity / len(msg) {
		if err := q.PushBatch(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
	}
	if c := cap(q.buf); c > capacity {
		t.Errorf("a full queue's buffer has room for %d elements, more than its capacity of %d", c, capacity)
	}
	// A spare of the consumer's that is larger already is used as it is:
	// cutting it down would allocate on every batch.
	ctx := context.Background()
	if _, err := q.Drain(ctx, make([]byte, 0, 2*capacity)); err != nil {
		t.Fatal(err)
	}
	if err := q.Push(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if c := cap(q.buf); c != 2*capacity {
		t.Errorf("after a Drain with a spare of %d, the buffer has room for %d", 2*capacity, c)
	}
	q.Close()
}
