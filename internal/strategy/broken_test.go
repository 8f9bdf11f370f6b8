package strategy

import (
	"io"
	"strings"
	"testing"

	"github.com/fanin-dev/fanin/internal/wire"
)

// stale is the seed's mutex actor bug: the batch buffer is never cleared,
// so every write re-sends everything written before. Test-only: it proves
// that the verification would catch that contestant.
type stale struct{}

func (stale) Name() string { return "stale" }

func (s stale) Prepare(dst io.Writer, h wire.Header) (Run, error) {
	r, err := NewHarness(s.Name(), dst, h)
	if err != nil {
		return nil, err
	}
	launchChan(r, func(ch <-chan []byte) {
		var kept []byte
		for msg := range ch {
			kept = append(kept, msg...) // never reset
			if !r.WriteBatch(kept) {
				drain(ch)
				return
			}
		}
	})
	return r, nil
}

// drop loses one message: producer 0's message number skip. Test-only.
type drop struct{ skip int }

func (drop) Name() string { return "drop" }

func (s drop) Prepare(dst io.Writer, h wire.Header) (Run, error) {
	r, err := NewHarness(s.Name(), dst, h)
	if err != nil {
		return nil, err
	}
	ch := make(chan []byte, chanCap)
	send := chanSender(ch, h.Mode)
	sender := func(p int) SendFunc {
		if p != 0 {
			return send
		}
		seq := 0
		return func(msg []byte) bool {
			seq++
			if seq-1 == s.skip {
				return true // lost
			}
			return send(msg)
		}
	}
	r.Launch(h.Producers, sender, func() { close(ch) }, func() {
		for msg := range ch {
			if !r.WriteBatch(msg) {
				drain(ch)
				return
			}
		}
	})
	return r, nil
}

// verdictOf runs s into a Verifier and returns the verdict; the run itself
// must succeed (the contestants are wrong, not failing).
func verdictOf(t *testing.T, s Strategy, h wire.Header) wire.Verdict {
	t.Helper()
	v := wire.NewVerifier(h)
	run(t, s, v, h)
	return v.Verdict()
}

// names asserts that the verdict's errors say what went wrong, in words a
// reader of the report would recognise.
func names(t *testing.T, v wire.Verdict, problems ...string) {
	t.Helper()
	all := strings.Join(v.Errors, "\n")
	for _, p := range problems {
		if !strings.Contains(all, p) {
			t.Errorf("verdict errors do not mention %q: %q", p, v.Errors)
		}
	}
}

func TestVerifierCatchesStaleContestant(t *testing.T) {
	t.Run("framed", func(t *testing.T) {
		h := header(wire.Framed, 4, 100)
		v := verdictOf(t, stale{}, h)
		if v.OK || v.Err() == nil {
			t.Fatalf("stale stream passed: %+v", v)
		}
		if v.Duplicates == 0 {
			t.Errorf("re-sent messages not reported as duplicates: %+v", v)
		}
		names(t, v, "extra bytes", "repeated")
	})
	t.Run("byte", func(t *testing.T) {
		h := header(wire.Byte, 4, 100)
		v := verdictOf(t, stale{}, h)
		if v.OK || v.Err() == nil {
			t.Fatalf("stale stream passed: %+v", v)
		}
		if v.ReceivedBytes <= h.TotalBytes() {
			t.Errorf("received %d bytes, expected the extra re-sent bytes to be counted beyond %d", v.ReceivedBytes, h.TotalBytes())
		}
		names(t, v, "extra bytes")
	})
}

func TestVerifierCatchesDroppedMessage(t *testing.T) {
	for _, mode := range []wire.Mode{wire.Framed, wire.Byte} {
		t.Run(mode.String(), func(t *testing.T) {
			h := header(mode, 4, 100)
			v := verdictOf(t, drop{skip: 50}, h)
			if v.OK || v.Err() == nil {
				t.Fatalf("stream with a lost message passed: %+v", v)
			}
			if v.ReceivedMessages != h.TotalMessages()-1 {
				t.Errorf("received %d messages, want %d", v.ReceivedMessages, h.TotalMessages()-1)
			}
			if mode == wire.Framed && (v.Missing != 1 || v.Duplicates != 0) {
				t.Errorf("missing=%d duplicates=%d, want exactly 1 missing: %+v", v.Missing, v.Duplicates, v)
			}
			names(t, v, "ended early")
		})
	}
}
