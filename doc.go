// Package fanin streams messages from many goroutines through one consumer,
// as fast as the consumer's sink allows, with bounded memory and nothing
// lost.
//
// # The problem
//
// The textbook fan-in is a channel: every producer sends, one goroutine
// receives one message at a time and writes it out. With small messages and
// many producers that consumer spends its time on per-message work (a
// receive, a system call) and falls behind. fanin instead lets producers
// append to a shared buffer that the consumer takes over whole, swapping in
// an empty one, so a burst of messages costs one hand-over and one write.
// Unlike a hand-rolled mutex and slice, it is bounded (producers park while
// it is full), it parks the consumer instead of spinning while it is empty,
// it delivers every accepted message exactly once, and it reports every
// failure as an error value.
//
// # Which type to use
//
//   - Writer: the messages are bytes going to an io.Writer, such as a
//     net.Conn. Each Write call is one message; one flusher goroutine writes
//     whole batches. This is the common case.
//   - Queue: the messages are values of any type and you write the consumer:
//     call Drain in a loop and handle each batch.
//   - Producer (Queue.Producer) and Lane (Writer.Lane): a goroutine that
//     sends many messages takes its own lane. A lane pushes without a lock,
//     with one atomic store per message, so producers do not contend with
//     each other at all. The shared Push and Write paths take one short lock
//     per message.
//
// # Guarantees
//
//   - Order: messages pushed by one goroutine, or through one lane, are
//     delivered in the order pushed. Across producers no order is promised.
//   - Exactly once: every accepted message (Push, PushBatch, TryPush or
//     Write returned nil) is delivered once. A Writer whose destination
//     fails counts the messages it could not write in Stats.Undelivered;
//     once closed, Delivered + Undelivered == Accepted.
//   - Bounded: at most the capacity is buffered (a Writer counts the batch it
//     is writing too); producers park while it is full, and a push whose
//     context ends while parked is not enqueued.
//   - No spinning: an idle consumer and full-queue producers are parked on
//     channels and use no CPU.
//   - Clean shutdown: Close releases parked producers with ErrClosed, keeps
//     what was accepted for Drain (or the Writer's final writes), and leaves
//     no goroutine behind.
//
// # Why it is fast
//
// The consumer never takes messages one at a time: Drain swaps the shared
// slice for a spare and copies what the lanes published since its last
// visit, so its cost per message is a memory copy. A lane is a linked list
// of chunks written by one goroutine and read by the consumer; the producer
// reserves room from the queue's capacity in blocks under the queue's lock
// (growing while it keeps pushing, returned when it closes), then
// writes each message and publishes it with one atomic store. The consumer
// learns which lanes have data from a ready list that a lane joins once per
// batch, not once per message. The shared path takes one short lock per
// message: it promises per-goroutine order, which needs a single point of
// order. That lock spins and yields but never parks a producer (a lock that
// parks its losers turns thousands of colliding producers into a convoy of
// goroutine hand-offs), and lets the consumer claim the next turn, so that
// one goroutine among thousands still gets the lock when it needs it.
//
// Producers park for room first come, first served, and are woken with
// enough to go on: a lane keeps the room it reserved while others wait, and
// a parked producer is woken with all it asked for while more room is on
// its way back, not with a sliver that would have it park again behind
// every goroutine ready to run.
//
// What a burst needs is made before it begins: a Writer's first buffers and
// a lane's first chunk are allocated and written when the Writer or lane is
// made (memory fresh from the operating system is mapped on its first
// write, and a page fault costs microseconds), and a lane opening makes room
// for itself on the consumer's ready list. Parking for room takes few and
// small stack frames, so that a new goroutine's first park does not also
// have to grow and copy its stack.
//
// A Writer fed by busy lanes waits a little before writing a small batch.
// Producers running flat out would otherwise get their messages written a
// few hundred bytes at a time, and the system calls would cost more than
// the messages. When the flusher has found messages waiting on its last few
// batches, it waits until the lanes hold about 16 KiB more, or for at most
// 50µs, and meanwhile its CPU runs producers (lanes share no memory, so
// producers on every CPU do not slow each other). The wait also ends as soon
// as no other goroutine is ready to run, so the end of a burst is written at
// once. Messages that arrive one at a time are written at once, and Flush,
// Close and a queue running short of room cut the wait short. The shared
// path never parks this way: its producers would then contend for its lock
// from every CPU. Instead a flusher kept busy on the shared path spins for
// at most 8µs before taking a batch under 8 KiB, on its own CPU, and only
// with more than one: the batch grows while the producers keep the lock on
// the other CPUs, and each write carries more messages.
//
// Memory is at most about twice the capacity for messages (the buffer being
// filled and the batch being written are separate arrays, each growing up
// to the capacity, never past it), plus one lane chunk per open lane: chunks
// shrink as lanes open, so that together they stay within a quarter of the
// capacity, but not below 1024 elements (1 KiB in a Writer). A Writer does
// not copy lane data into those arrays: it waits in the lanes' chunks and
// is written from there, with one vectored write per batch to a
// *net.TCPConn or *net.UnixConn, and through a 64 KiB stage to any other
// destination.
package fanin
