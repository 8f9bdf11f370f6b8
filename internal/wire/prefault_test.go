package wire

import (
	"errors"
	"runtime/debug"
	"testing"

	"github.com/fanin-dev/fanin/internal/prefault"
)

// TestVerifierTablesAreMapped checks that NewVerifier maps its tables, so
// that their page faults do not land on the stream's first bytes, inside a
// benchmark's timed run.
func TestVerifierTablesAreMapped(t *testing.T) {
	check := func(name string, mapped, pages int, err error) {
		t.Helper()
		if errors.Is(err, errors.ErrUnsupported) {
			t.Skip("no mincore on this system")
		}
		if err != nil {
			t.Fatal(err)
		}
		if mapped != pages {
			t.Errorf("%s: %d of %d pages mapped, want all", name, mapped, pages)
		}
	}
	debug.FreeOSMemory() // as the benchmark does before every run
	v := NewVerifier(Header{Mode: Byte, Producers: 4, Messages: 10, Size: 1})
	m, p, err := prefault.Mapped(v.counts[:])
	check("byte counts", m, p, err)

	debug.FreeOSMemory()
	v = NewVerifier(Header{Mode: Framed, Producers: 4, Messages: 10, Size: FrameSize})
	m, p, err = prefault.Mapped(v.lat.counts[:])
	check("latency histogram", m, p, err)
}
