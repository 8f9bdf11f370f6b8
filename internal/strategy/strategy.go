// Package strategy holds the contestants: interchangeable ways for many
// producer goroutines to fan their messages in to one io.Writer.
//
// Every contestant runs the same producers and the same messages
// (wire.AppendMessage); only the fan-in between them and the writer differs.
package strategy

import (
	"io"

	"github.com/fanin-dev/fanin/internal/wire"
)

// A Strategy moves every message of a workload into one io.Writer.
type Strategy interface {
	// Name is the contestant's name as used on the command line.
	Name() string
	// Prepare starts h.Producers producer goroutines and parks them until
	// Start is called, so that goroutine creation stays outside the timed
	// region. Whatever consumer the strategy needs is started too, and
	// waits for messages as it would in a long-lived program.
	Prepare(dst io.Writer, h wire.Header) (Run, error)
}

// A Run is one prepared execution of a strategy.
type Run interface {
	// Start releases the parked producers. It is called once.
	Start()
	// Wait returns once every message has been written to dst, or with the
	// first error. It leaves no goroutine behind.
	Wait() error
}
