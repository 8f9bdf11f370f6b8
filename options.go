package fanin

import "time"

const (
	// DefaultQueueCapacity is a Queue's capacity in messages when no
	// WithCapacity option is given.
	DefaultQueueCapacity = 1 << 16
	// DefaultWriterCapacity is a Writer's capacity in bytes when no
	// WithCapacity option is given.
	DefaultWriterCapacity = 1 << 20
	// MaxCapacity is the largest capacity a Queue or Writer accepts; larger
	// values given to WithCapacity are reduced to it.
	MaxCapacity = 1<<31 - 1
)

// An Option configures a Queue or a Writer.
type Option func(*config)

type config struct {
	capacity int // 0 means the type's default
	maxDelay time.Duration
}

// WithCapacity bounds how much may be buffered: for a Queue, n messages
// (default DefaultQueueCapacity); for a Writer, n bytes (default
// DefaultWriterCapacity). Producers park while the buffer is full.
//
// Values below 1 select the default; values above MaxCapacity are reduced to
// MaxCapacity. Memory for messages is about twice the capacity at most: the
// buffer being filled and the one the consumer holds. Each open lane adds
// its own state and the chunk it is filling (see the package documentation).
func WithCapacity(n int) Option {
	return func(c *config) {
		switch {
		case n < 1:
			c.capacity = 0
		case n > MaxCapacity:
			c.capacity = MaxCapacity
		default:
			c.capacity = n
		}
	}
}

// WithMaxDelay lets the consumer wait up to d after the first message of a
// batch arrives, so that more messages join the batch. The wait ends early
// when a producer finds the buffer full, on Flush and on Close.
//
// The default, 0, hands a batch over as soon as the consumer asks for one:
// batches then grow by themselves while the consumer is busy (natural
// batching), and an idle stream adds no latency. A positive d trades up to d
// of latency for fewer, larger batches when messages arrive slowly.
// Negative values are treated as 0.
func WithMaxDelay(d time.Duration) Option {
	return func(c *config) { c.maxDelay = max(d, 0) }
}

func newConfig(defaultCapacity int, opts []Option) config {
	var c config
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.capacity == 0 {
		c.capacity = defaultCapacity
	}
	return c
}
