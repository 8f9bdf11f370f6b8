package fanin

// Stats is a snapshot of a Queue's or Writer's counters since it was made.
//
// Once a Queue has been drained to io.EOF, or a Writer closed,
// Delivered + Undelivered == Accepted.
type Stats struct {
	// Accepted counts messages accepted by Push, TryPush, PushBatch (one per
	// element) or Write (one per call), from any producer or lane.
	Accepted uint64
	// Delivered counts messages handed to the consumer by Drain (Queue) or
	// written to the destination (Writer).
	Delivered uint64
	// Undelivered counts accepted messages that were never delivered because
	// the Writer's destination failed. It is always 0 for a Queue.
	Undelivered uint64
	// Batches counts batches handed over: Drain results, or Writer writes.
	Batches uint64
	// MaxBatch is the largest batch handed over, in messages.
	MaxBatch uint64
	// Waits counts the times a producer parked because the buffer was full.
	Waits uint64
	// Buffered is the number of messages accepted and not yet delivered (nor
	// counted as undelivered); for a Writer it includes the batch being
	// written.
	Buffered uint64
	// Bytes counts bytes written to the destination (Writer only).
	Bytes uint64
	// Lanes is the number of open Producers (Queue) or lanes (Writer).
	Lanes int
}
