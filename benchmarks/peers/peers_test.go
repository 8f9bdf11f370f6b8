package peers

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/fanin-dev/fanin/internal/strategy"
	"github.com/fanin-dev/fanin/internal/wire"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// header builds a workload; framed messages are 32 bytes.
func header(mode wire.Mode, producers, messages int) wire.Header {
	size := 1
	if mode == wire.Framed {
		size = 32
	}
	return wire.Header{Mode: mode, Producers: producers, Messages: messages, Size: size, Label: "test"}
}

// recorder feeds a Verifier and counts writes, to show the batching.
type recorder struct {
	v      *wire.Verifier
	writes int
}

func (r *recorder) Write(p []byte) (int, error) {
	r.writes++
	return r.v.Write(p)
}

// hangGuard bounds one run: far above what any run here needs under -race.
const hangGuard = 20 * time.Second

// wait is r.Wait, failing the test instead of hanging it.
func wait(t *testing.T, r strategy.Run) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- r.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(hangGuard):
		t.Fatalf("Wait did not return within %v", hangGuard)
		return nil
	}
}

func TestNames(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range Contestants() {
		if seen[s.Name()] {
			t.Errorf("name %s used twice", s.Name())
		}
		seen[s.Name()] = true
	}
	want := []string{"xsync-mpmc", "workiva-ring", "eapache-batching", "chanx-unbounded", "zap-buffered", "zap-buffered-1ms"}
	for _, n := range want {
		if !seen[n] {
			t.Errorf("missing peer %s", n)
		}
		if Limitations()[n] == "" {
			t.Errorf("peer %s has no limitations line", n)
		}
	}
}

// TestVerified runs every peer in both wire modes at a few producer counts
// into a Verifier: exactly once, per-producer order (framed), nothing extra.
func TestVerified(t *testing.T) {
	for _, p := range All() {
		for _, mode := range []wire.Mode{wire.Byte, wire.Framed} {
			for _, producers := range []int{1, 4, 64} {
				t.Run(fmt.Sprintf("%s/%v/%d", p.Name(), mode, producers), func(t *testing.T) {
					h := header(mode, producers, 300)
					rec := &recorder{v: wire.NewVerifier(h)}
					r, err := p.Prepare(rec, h)
					if err != nil {
						t.Fatal(err)
					}
					r.Start()
					if err := wait(t, r); err != nil {
						t.Fatalf("Wait: %v", err)
					}
					if v := rec.v.Verdict(); !v.OK {
						t.Fatalf("verdict: %v", v.Err())
					}
					t.Logf("%d messages in %d writes", h.TotalMessages(), rec.writes)
				})
			}
		}
	}
}

// failAfter accepts n bytes, then fails every write.
type failAfter struct {
	mu   sync.Mutex
	left int
}

var errSink = errors.New("sink gone")

func (f *failAfter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.left < len(p) {
		return 0, errSink
	}
	f.left -= len(p)
	return len(p), nil
}

// TestWriteFailure: a destination that fails mid-run makes Wait return its
// error, and every goroutine (producers blocked on a full queue included)
// ends: goleak checks the last part.
func TestWriteFailure(t *testing.T) {
	for _, p := range All() {
		for _, mode := range []wire.Mode{wire.Byte, wire.Framed} {
			t.Run(fmt.Sprintf("%s/%v", p.Name(), mode), func(t *testing.T) {
				h := header(mode, 16, 20000)
				r, err := p.Prepare(&failAfter{left: 1000}, h)
				if err != nil {
					t.Fatal(err)
				}
				r.Start()
				if err := wait(t, r); !errors.Is(err, errSink) {
					t.Fatalf("Wait = %v, want %v", err, errSink)
				}
			})
		}
	}
}

func TestPrepareRejects(t *testing.T) {
	for _, p := range All() {
		if _, err := p.Prepare(nil, header(wire.Byte, 1, 1)); err == nil {
			t.Errorf("%s: nil writer accepted", p.Name())
		}
		if _, err := p.Prepare(io.Discard, wire.Header{Mode: wire.Byte, Producers: 0, Messages: 1, Size: 1}); err == nil {
			t.Errorf("%s: zero producers accepted", p.Name())
		}
	}
}

// TestUnstartedWait: Wait on a prepared run that was never started still
// finishes it (Wait implies Start), as the Run contract asks.
func TestUnstartedWait(t *testing.T) {
	for _, p := range All() {
		h := header(wire.Byte, 2, 10)
		rec := &recorder{v: wire.NewVerifier(h)}
		r, err := p.Prepare(rec, h)
		if err != nil {
			t.Fatal(err)
		}
		if err := wait(t, r); err != nil {
			t.Fatalf("%s: %v", p.Name(), err)
		}
		if v := rec.v.Verdict(); !v.OK {
			t.Fatalf("%s: %v", p.Name(), v.Err())
		}
	}
}
