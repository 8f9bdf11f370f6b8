package strategy

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/fanin-dev/fanin/internal/wire"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// header builds a workload; framed messages are 32 bytes.
func header(mode wire.Mode, producers, messages int) wire.Header {
	size := 1
	if mode == wire.Framed {
		size = 32
	}
	return wire.Header{Mode: mode, Producers: producers, Messages: messages, Size: size, Label: "test"}
}

// recorder passes the stream to a Verifier and records the shape of the
// writes, which is what distinguishes the contestants.
type recorder struct {
	v        *wire.Verifier
	writes   int
	maxWrite int
}

func newRecorder(h wire.Header) *recorder { return &recorder{v: wire.NewVerifier(h)} }

func (r *recorder) Write(p []byte) (int, error) {
	r.writes++
	r.maxWrite = max(r.maxWrite, len(p))
	return r.v.Write(p)
}

// run prepares, starts and waits for one run of s. A run that hangs fails
// with what the destination had received, instead of at the test timeout.
func run(t *testing.T, s Strategy, dst io.Writer, h wire.Header) {
	t.Helper()
	r, err := s.Prepare(dst, h)
	if err != nil {
		t.Fatalf("%s: Prepare: %v", s.Name(), err)
	}
	r.Start()
	if err := waitGuarded(t, r, dst); err != nil {
		t.Fatalf("%s: Wait: %v", s.Name(), err)
	}
}

// waitGuarded is r.Wait, failing the test if it hangs.
func waitGuarded(t *testing.T, r Run, dst io.Writer) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- r.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(hangGuard):
		t.Fatalf("Wait did not return within %v (%s)", hangGuard, progress(dst))
		return nil
	}
}

// hangGuard bounds one run in a test: far above what any run here needs
// under -race, far below the test binary's timeout.
const hangGuard = 20 * time.Second

// progress describes what dst received, for a hung run's failure message.
// It reads without synchronisation only after giving up on the run.
func progress(dst io.Writer) string {
	switch d := dst.(type) {
	case *recorder:
		return fmt.Sprintf("%d writes so far", d.writes)
	case *wire.Verifier:
		return fmt.Sprintf("verdict so far: %+v", d.Verdict())
	}
	return "no progress information"
}

// messagesFor keeps the matrix small under -race while still cycling the
// byte values (255 per cycle) and spanning several 64 KiB writes.
var messagesFor = map[int]int{1: 3000, 7: 2000, 64: 200, 1000: 20}

func TestEveryContestantDeliversExactly(t *testing.T) {
	for _, s := range All() {
		for _, mode := range []wire.Mode{wire.Byte, wire.Framed} {
			for _, producers := range []int{1, 7, 64, 1000} {
				h := header(mode, producers, messagesFor[producers])
				t.Run(fmt.Sprintf("%s/%s/p=%d", s.Name(), mode, producers), func(t *testing.T) {
					deliversExactly(t, s, h)
				})
			}
		}
		// Large messages: a 64 KiB batch is then only 16 of them, and
		// mutex-swap's buffer reaches its bound within the run.
		h := wire.Header{Mode: wire.Framed, Producers: 16, Messages: 40, Size: 4096}
		t.Run(s.Name()+"/framed/size=4096", func(t *testing.T) { deliversExactly(t, s, h) })
	}
}

func deliversExactly(t *testing.T, s Strategy, h wire.Header) {
	rec := newRecorder(h)
	run(t, s, rec, h)
	if v := rec.v.Verdict(); !v.OK {
		t.Fatalf("verdict not OK: %v (%+v)", v.Err(), v)
	}
	if !rec.v.Done() {
		t.Fatal("verifier not done after Wait")
	}
	checkWriteShape(t, s.Name(), h, rec)
}

// checkWriteShape asserts how each contestant batches: that is the thing
// being compared, so a contestant that silently changed its batching would
// make the benchmark lie.
func checkWriteShape(t *testing.T, name string, h wire.Header, rec *recorder) {
	t.Helper()
	total := h.TotalBytes()
	switch name {
	case "chan-serial":
		if int64(rec.writes) != h.TotalMessages() || rec.maxWrite != h.Size {
			t.Errorf("chan-serial: %d writes of at most %d bytes; want one %d-byte write per message (%d)",
				rec.writes, rec.maxWrite, h.Size, h.TotalMessages())
		}
	case "chan-batch":
		if rec.maxWrite > batchLimit {
			t.Errorf("chan-batch: a write of %d bytes exceeds the %d-byte limit", rec.maxWrite, batchLimit)
		}
	case "mutex-swap":
		if limit := min(int64(swapLimit), total) + int64(h.Size); int64(rec.maxWrite) > limit {
			t.Errorf("mutex-swap: a write of %d bytes exceeds the bound %d", rec.maxWrite, limit)
		}
	case "polled-lanes":
		// In place, from one lane at a time: to a destination without a
		// vectored write, each piece of a pass is a Write of its own.
		if per := int(h.TotalMessages()/int64(h.Producers)) * h.Size; rec.maxWrite > per {
			t.Errorf("polled-lanes: a write of %d bytes spans lanes of %d bytes", rec.maxWrite, per)
		}
	case "private":
		want := (total + batchLimit - 1) / batchLimit
		if int64(rec.writes) != want || rec.maxWrite > batchLimit {
			t.Errorf("private: %d writes of at most %d bytes; want %d writes of at most %d", rec.writes, rec.maxWrite, want, batchLimit)
		}
	case "direct":
		chunk := max(min(int64(batchLimit), total), int64(h.Size))
		per := chunk / int64(h.Size) // messages per full chunk
		want := (h.TotalMessages() + per - 1) / per
		if int64(rec.writes) != want || int64(rec.maxWrite) != per*int64(h.Size) {
			t.Errorf("direct: %d writes of at most %d bytes; want %d writes of %d", rec.writes, rec.maxWrite, want, per*int64(h.Size))
		}
	}
}

func TestRegistry(t *testing.T) {
	want := []string{"chan-serial", "chan-batch", "mutex-swap", "fanin", "fanin-lanes", "polled-lanes", "private", "direct"}
	if got := Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	for i, s := range All() {
		if s.Name() != want[i] {
			t.Errorf("All()[%d].Name() = %q, want %q", i, s.Name(), want[i])
		}
		got, err := Lookup(want[i])
		if err != nil || got.Name() != want[i] {
			t.Errorf("Lookup(%q) = %v, %v", want[i], got, err)
		}
	}
	all := All()
	all[0] = nil
	if All()[0] == nil {
		t.Error("All returns a shared slice: a caller's change leaked into the registry")
	}
}

func TestLookupUnknownListsValidNames(t *testing.T) {
	s, err := Lookup("chan-serail")
	if err == nil {
		t.Fatalf("Lookup of an unknown name returned %v and no error", s)
	}
	for _, name := range Names() {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not list %q", err, name)
		}
	}
	if !strings.Contains(err.Error(), "chan-serail") {
		t.Errorf("error %q does not name what was asked for", err)
	}
}

func TestPrepareRejectsBadInput(t *testing.T) {
	bad := []struct {
		name string
		h    wire.Header
	}{
		{"byte mode with size 2", wire.Header{Mode: wire.Byte, Producers: 1, Messages: 1, Size: 2}},
		{"no producers", wire.Header{Mode: wire.Byte, Producers: 0, Messages: 1, Size: 1}},
		{"framed size below the frame", wire.Header{Mode: wire.Framed, Producers: 1, Messages: 1, Size: wire.FrameSize - 1}},
	}
	for _, s := range All() {
		t.Run(s.Name(), func(t *testing.T) {
			for _, c := range bad {
				if r, err := s.Prepare(newRecorder(header(wire.Byte, 1, 1)), c.h); err == nil {
					r.Start()
					_ = r.Wait()
					t.Errorf("Prepare accepted %s", c.name)
				}
			}
			if r, err := s.Prepare(nil, header(wire.Byte, 1, 1)); err == nil {
				t.Errorf("Prepare accepted a nil writer")
				r.Start()
				_ = r.Wait()
			}
		})
	}
}

// ours are the contestants built on the harness in this package's files
// (fanin.go's may choose their own machinery).
func ours() []Strategy {
	return []Strategy{ChanSerial{}, ChanBatch{}, MutexSwap{}, PolledLanes{}, Direct{}}
}

func TestWaitWithoutStartRunsToCompletion(t *testing.T) {
	for _, s := range ours() {
		t.Run(s.Name(), func(t *testing.T) {
			h := header(wire.Framed, 3, 50)
			rec := newRecorder(h)
			r, err := s.Prepare(rec, h)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Wait(); err != nil {
				t.Fatal(err)
			}
			if v := rec.v.Verdict(); !v.OK {
				t.Error(v.Err())
			}
		})
	}
}
