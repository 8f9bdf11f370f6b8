package wire

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/big"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// stream returns a correct stream for h: producers interleaved round-robin,
// each in seq order, as a fan-in would plausibly deliver them.
func stream(h Header) []byte {
	b := make([]byte, 0, h.TotalBytes())
	for seq := range h.Messages {
		for p := range h.Producers {
			b = AppendMessage(b, h, p, seq)
		}
	}
	return b
}

// fixedClock makes a verifier's verdict reproducible (durations, latencies).
func fixedClock(v *Verifier, t time.Time) { v.now = func() time.Time { return t } }

func verify(h Header, chunks ...[]byte) (*Verifier, Verdict) {
	v := NewVerifier(h)
	fixedClock(v, time.Unix(1e9, 0))
	for _, c := range chunks {
		if n, err := v.Write(c); n != len(c) || err != nil {
			panic("Verifier.Write must accept everything")
		}
	}
	return v, v.Verdict()
}

var okHeaders = []Header{
	{Mode: Byte, Producers: 1, Messages: 1, Size: 1},
	{Mode: Byte, Producers: 7, Messages: 1000, Size: 1},
	{Mode: Byte, Producers: 3, Messages: 510, Size: 1},
	{Mode: Framed, Producers: 1, Messages: 1, Size: FrameSize},
	{Mode: Framed, Producers: 5, Messages: 40, Size: FrameSize},
	{Mode: Framed, Producers: 3, Messages: 20, Size: 100},
}

func TestVerifierOK(t *testing.T) {
	for _, h := range okHeaders {
		h.Label = "test"
		v, vd := verify(h, stream(h))
		if !vd.OK || vd.Err() != nil || !v.Done() {
			t.Errorf("%+v: correct stream not verified: %+v", h, vd)
		}
		want := Verdict{
			OK: true, Mode: h.Mode.String(), Label: "test", Producers: h.Producers,
			MessagesPerProducer: h.Messages, Size: h.Size,
			ExpectedMessages: h.TotalMessages(), ReceivedMessages: h.TotalMessages(),
			ReceivedBytes:   h.TotalBytes(),
			CompletedUnixNs: time.Unix(1e9, 0).UnixNano(), // verify's clock
		}
		vd.LatencyP50Us, vd.LatencyP99Us, vd.LatencyMaxUs = 0, 0, 0 // real send times
		if !reflect.DeepEqual(vd, want) {
			t.Errorf("%+v:\n got  %+v\n want %+v", h, vd, want)
		}
	}
}

func TestVerifierEmpty(t *testing.T) {
	h := Header{Mode: Framed, Producers: 2, Messages: 3, Size: 20}
	v, vd := verify(h)
	if v.Done() || vd.OK || vd.Missing != 6 || !strings.Contains(vd.Err().Error(), "ended early: 0 of 120 bytes") {
		t.Errorf("empty stream: done %v, verdict %+v", v.Done(), vd)
	}
}

// randomSplit cuts b at random points, with empty and 1-byte chunks.
func randomSplit(r *rand.Rand, b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		var n int
		switch r.IntN(4) {
		case 0:
			n = 0
		case 1:
			n = 1
		default:
			n = r.IntN(min(len(b), 150) + 1)
		}
		n = min(n, len(b))
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

func TestVerifierRandomSplits(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, h := range okHeaders {
		s := stream(h)
		for range 50 {
			if _, vd := verify(h, randomSplit(r, s)...); !vd.OK {
				t.Fatalf("%+v split: %+v", h, vd)
			}
		}
	}
	// Broken streams give the same verdict whatever the split.
	h := Header{Mode: Framed, Producers: 3, Messages: 20, Size: 40}
	s := stream(h)
	s[5*40+22] ^= 0x10                // corrupt a payload
	copy(s[9*40:10*40], s[3*40:4*40]) // duplicate a message
	s = s[:len(s)-7]                  // truncate
	_, whole := verify(h, s)
	if whole.OK {
		t.Fatalf("broken stream verified")
	}
	for range 50 {
		if _, vd := verify(h, randomSplit(r, s)...); !reflect.DeepEqual(vd, whole) {
			t.Fatalf("split changed the verdict:\n got  %+v\n want %+v", vd, whole)
		}
	}
}

// msg returns message i (0-based, stream order) of a framed stream.
func msg(h Header, s []byte, i int) []byte { return s[i*h.Size : (i+1)*h.Size] }

func TestVerifierDetects(t *testing.T) {
	hb := Header{Mode: Byte, Producers: 4, Messages: 300, Size: 1}
	hf := Header{Mode: Framed, Producers: 3, Messages: 10, Size: 24}
	hs := Header{Mode: Framed, Producers: 1, Messages: 10, Size: FrameSize}
	// In hf's stream, message i is producer i%3, seq i/3.
	tests := []struct {
		name   string
		h      Header
		edit   func(s []byte) []byte
		want   string // in the errors
		check  func(vd Verdict) bool
		isDone bool
	}{
		{"byte truncated", hb, func(s []byte) []byte { return s[:len(s)-3] }, "ended early: 1197 of 1200",
			func(vd Verdict) bool { return vd.Missing == 3 && vd.ReceivedMessages == 1197 }, false},
		{"byte extra", hb, func(s []byte) []byte { return append(s, 1, 2) }, "2 extra bytes",
			func(vd Verdict) bool { return vd.ReceivedBytes == 1202 && vd.ReceivedMessages == 1200 }, true},
		{"byte corrupted", hb, func(s []byte) []byte { s[100]++; return s }, "received",
			func(vd Verdict) bool { return vd.Missing == 1 && vd.Duplicates == 1 }, true},
		{"byte value 255", hb, func(s []byte) []byte { s[7] = 255; return s }, "value 255: received 1 times, want 0",
			func(vd Verdict) bool { return vd.Missing == 1 && vd.Duplicates == 1 }, true},
		{"framed truncated mid-message", hf, func(s []byte) []byte { return s[:len(s)-5] }, "ended early",
			func(vd Verdict) bool { return vd.Missing == 1 && vd.ReceivedMessages == 29 }, false},
		{"framed missing", hf, func(s []byte) []byte { return append(s[:4*24:4*24], s[5*24:]...) }, "ended early: 696 of 720",
			func(vd Verdict) bool { return vd.Missing == 1 && vd.Duplicates == 0 }, false},
		{"framed extra", hf, func(s []byte) []byte { return append(s, msg(hf, s, 0)...) }, "24 extra bytes",
			func(vd Verdict) bool { return vd.ReceivedMessages == 30 && vd.Duplicates == 0 }, true},
		{"framed duplicate for missing", hf, func(s []byte) []byte { copy(msg(hf, s, 27), msg(hf, s, 0)); return s },
			"not seqs 0..9 exactly once",
			func(vd Verdict) bool { return vd.Duplicates == 1 && vd.Missing == 1 && vd.OutOfOrder == 1 }, true},
		{"framed repeated", hs, func(s []byte) []byte { copy(msg(hs, s, 3), msg(hs, s, 2)); return s },
			"seq 2 repeated",
			func(vd Verdict) bool { return vd.Duplicates == 1 && vd.Missing == 1 && vd.OutOfOrder == 0 }, true},
		{"framed trailing repeat", hs, func(s []byte) []byte { copy(msg(hs, s, 9), msg(hs, s, 8)); return s },
			"seq 8 repeated",
			func(vd Verdict) bool { return vd.Duplicates == 1 && vd.Missing == 1 }, true},
		{"framed duplicate of another producer", hf, func(s []byte) []byte { copy(msg(hf, s, 28), msg(hf, s, 27)); return s },
			"producer 0: 11 messages, want 10",
			func(vd Verdict) bool { return vd.Duplicates == 1 && vd.Missing == 1 && vd.OutOfOrder == 0 }, true},
		{"framed reordered", hf, func(s []byte) []byte {
			a, b := bytes.Clone(msg(hf, s, 4)), bytes.Clone(msg(hf, s, 7)) // producer 1 seq 1 and 2
			copy(msg(hf, s, 4), b)
			copy(msg(hf, s, 7), a)
			return s
		}, "producer 1: seq 1 arrived after seq 2",
			func(vd Verdict) bool { return vd.OutOfOrder == 1 && vd.Duplicates == 0 && vd.Missing == 0 }, true},
		{"framed payload corrupted", hf, func(s []byte) []byte { s[7*24+20] ^= 1; return s },
			"message 7: payload corrupted at byte 20 (producer 1 seq 2)",
			func(vd Verdict) bool { return vd.Missing == 0 && vd.ReceivedMessages == 30 }, true},
		{"framed seq out of range", hs, func(s []byte) []byte { binary.LittleEndian.PutUint32(s[4*16+4:], 10); return s },
			"message 4: producer 0 seq 10 out of range",
			func(vd Verdict) bool { return vd.Missing == 1 }, true},
		{"framed producer out of range", hf, func(s []byte) []byte { binary.LittleEndian.PutUint32(s[2*24:], 3); return s },
			"payload corrupted", // the payload pattern depends on the producer
			func(vd Verdict) bool { return vd.Missing == 1 }, true},
		{"framed seq changed", hf, func(s []byte) []byte { binary.LittleEndian.PutUint32(s[2*24+4:], 1); return s },
			"payload corrupted", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, vd := verify(tt.h, tt.edit(stream(tt.h)))
			if vd.OK || vd.Err() == nil {
				t.Fatalf("not detected: %+v", vd)
			}
			if !strings.Contains(vd.Err().Error(), tt.want) {
				t.Errorf("errors %q do not mention %q", vd.Errors, tt.want)
			}
			if tt.check != nil && !tt.check(vd) {
				t.Errorf("wrong counts: %+v", vd)
			}
			if v.Done() != tt.isDone {
				t.Errorf("Done() = %v, want %v", v.Done(), tt.isDone)
			}
		})
	}
}

// Interleaving producers differently is not a fault: order is per producer.
func TestVerifierAnyInterleaving(t *testing.T) {
	h := Header{Mode: Framed, Producers: 4, Messages: 25, Size: 20}
	var s []byte
	for p := h.Producers - 1; p >= 0; p-- { // producer by producer, last first
		for seq := range h.Messages {
			s = AppendMessage(s, h, p, seq)
		}
	}
	if _, vd := verify(h, s); !vd.OK {
		t.Errorf("producer-by-producer stream rejected: %+v", vd)
	}
}

func TestVerifierErrorsCapped(t *testing.T) {
	h := Header{Mode: Framed, Producers: 1, Messages: 100, Size: FrameSize}
	var s []byte
	for seq := h.Messages - 1; seq >= 0; seq-- {
		s = AppendMessage(s, h, 0, seq)
	}
	_, vd := verify(h, s)
	if vd.OutOfOrder != 99 {
		t.Errorf("OutOfOrder = %d, want 99", vd.OutOfOrder)
	}
	if len(vd.Errors) != maxErrors+1 || vd.Errors[maxErrors] != "... and 89 more" {
		t.Errorf("errors not capped: %d: %q", len(vd.Errors), vd.Errors)
	}
}

func TestVerdictErr(t *testing.T) {
	if err := (Verdict{OK: true}).Err(); err != nil {
		t.Errorf("OK verdict: %v", err)
	}
	err := Verdict{Errors: []string{"a", "b"}}.Err()
	if err == nil || !strings.Contains(err.Error(), "a; b") {
		t.Errorf("failed verdict: %v", err)
	}
	if (Verdict{}).Err() == nil {
		t.Errorf("failed verdict without errors gave nil")
	}
}

func TestVerifierDuration(t *testing.T) {
	h := Header{Mode: Byte, Producers: 1, Messages: 3, Size: 1}
	v := NewVerifier(h)
	t0 := time.Unix(1e9, 0)
	for i, b := range stream(h) {
		fixedClock(v, t0.Add(time.Duration(i)*5*time.Millisecond))
		v.Write([]byte{b})
	}
	fixedClock(v, t0.Add(time.Hour))
	v.Write(nil) // no bytes: not the last byte
	if vd := v.Verdict(); !vd.OK || vd.DurationNs != int64(10*time.Millisecond) {
		t.Errorf("duration %v, want 10ms (%+v)", time.Duration(vd.DurationNs), vd)
	}
}

// The verdict records when the last expected byte was counted, by the clock
// after counting it: not when earlier bytes came, not before the stream is
// complete, and not moved by extra bytes after it.
func TestVerifierCompleted(t *testing.T) {
	h := Header{Mode: Byte, Producers: 2, Messages: 3, Size: 1}
	v := NewVerifier(h)
	t0 := time.Unix(1e9, 0)
	s := stream(h)
	fixedClock(v, t0)
	v.Write(s[:len(s)-1])
	if vd := v.Verdict(); vd.CompletedUnixNs != 0 {
		t.Fatalf("completed at %d with a byte missing", vd.CompletedUnixNs)
	}
	calls := 0
	v.now = func() time.Time { calls++; return t0.Add(time.Duration(calls) * time.Millisecond) }
	v.Write(s[len(s)-1:])
	if want := t0.Add(2 * time.Millisecond).UnixNano(); v.Verdict().CompletedUnixNs != want || calls != 2 {
		t.Fatalf("completed at %d after %d clock reads, want %d (the read after counting)", v.Verdict().CompletedUnixNs, calls, want)
	}
	fixedClock(v, t0.Add(time.Hour))
	v.Write([]byte{1}) // extra: the verdict fails, the completion time stays
	if vd := v.Verdict(); vd.OK || vd.CompletedUnixNs != t0.Add(2*time.Millisecond).UnixNano() {
		t.Errorf("after an extra byte: ok %v, completed at %d", vd.OK, vd.CompletedUnixNs)
	}
}

func TestVerifierLatency(t *testing.T) {
	// 1000 messages with latencies 1µs, 2µs, ..., 1000µs, in shuffled order
	// across producers.
	h := Header{Mode: Framed, Producers: 4, Messages: 250, Size: 32}
	recv := time.Unix(2e9, 0)
	v := NewVerifier(h)
	fixedClock(v, recv)
	lat := rand.New(rand.NewPCG(3, 4)).Perm(1000)
	i := 0
	for seq := range h.Messages {
		for p := range h.Producers {
			m := AppendMessage(nil, h, p, seq)
			binary.LittleEndian.PutUint64(m[8:], uint64(recv.UnixNano()-int64(lat[i]+1)*1000))
			v.Write(m)
			i++
		}
	}
	vd := v.Verdict()
	if !vd.OK {
		t.Fatalf("verdict: %+v", vd)
	}
	near := func(name string, got, want float64) {
		if math.Abs(got-want) > want*0.01 {
			t.Errorf("%s = %v µs, want %v ±1%%", name, got, want)
		}
	}
	near("p50", vd.LatencyP50Us, 500)
	near("p99", vd.LatencyP99Us, 990)
	if vd.LatencyMaxUs != 1000 {
		t.Errorf("max = %v µs, want exactly 1000", vd.LatencyMaxUs)
	}
}

func TestHistPrecision(t *testing.T) {
	prev := -1
	for _, v := range []uint64{0, 1, 100, 127, 128, 129, 200, 1000, 12345, 1e6, 123456789, 1e12, 1 << 40, math.MaxInt64, math.MaxUint64} {
		i := histBucket(v)
		if i < 0 || i >= histBuckets || i < prev {
			t.Fatalf("bucket(%d) = %d (prev %d, %d buckets)", v, i, prev, histBuckets)
		}
		prev = i
		if mid := float64(histMid(i)); math.Abs(mid-float64(v)) > float64(v)*0.01 {
			t.Errorf("value %d reported as %v: more than 1%% off", v, mid)
		}
	}
	r := rand.New(rand.NewPCG(5, 6))
	for range 10000 {
		v := r.Uint64() >> r.IntN(64)
		if i := histBucket(v); math.Abs(float64(histMid(i))-float64(v)) > float64(v)*0.01 {
			t.Fatalf("value %d in bucket %d reported as %d", v, i, histMid(i))
		}
	}
	var h latencyHist
	if h.quantile(0.5) != 0 {
		t.Errorf("empty histogram quantile not 0")
	}
	h.record(-5) // clock stepped back
	h.record(1000)
	if h.quantile(0.5) != 0 || h.quantile(1) != 1000 || h.max != 1000 {
		t.Errorf("quantiles: %d %d max %d", h.quantile(0.5), h.quantile(1), h.max)
	}
}

func TestSeqSums(t *testing.T) {
	var sum, sq uint64
	for n := range uint64(2000) {
		gs, gq := seqSums(n)
		if gs != sum || gq != sq {
			t.Fatalf("seqSums(%d) = %d, %d; want %d, %d", n, gs, gq, sum, sq)
		}
		sum += n
		sq += n * n
	}
	mod := new(big.Int).Lsh(big.NewInt(1), 64)
	for _, n := range []uint64{1<<32 - 1, 1 << 32, 1<<32 - 2, 3_000_000_001} {
		// n(n-1)/2 and (n-1)n(2n-1)/6, exactly, then mod 2^64.
		N := new(big.Int).SetUint64(n)
		N1 := new(big.Int).Sub(N, big.NewInt(1))
		ws := new(big.Int).Mul(N, N1)
		ws.Rsh(ws, 1).Mod(ws, mod)
		wq := new(big.Int).Mul(N, N1)
		wq.Mul(wq, new(big.Int).Sub(new(big.Int).Lsh(N, 1), big.NewInt(1)))
		wq.Div(wq, big.NewInt(6)).Mod(wq, mod)
		gs, gq := seqSums(n)
		if gs != ws.Uint64() || gq != wq.Uint64() {
			t.Errorf("seqSums(%d) = %d, %d; want %v, %v", n, gs, gq, ws, wq)
		}
	}
}

func TestExpectedCount(t *testing.T) {
	for _, m := range []int{1, 2, 254, 255, 256, 509, 510, 1000} {
		h := Header{Mode: Byte, Producers: 3, Messages: m, Size: 1}
		var want [256]int64
		for range h.Producers {
			for seq := range m {
				want[ByteValue(seq)]++
			}
		}
		for b := range 256 {
			if got := expectedCount(h, b); got != want[b] {
				t.Errorf("messages %d value %d: expectedCount %d, want %d", m, b, got, want[b])
			}
		}
	}
}

func benchmarkVerifier(b *testing.B, h Header) {
	s := stream(h)
	const chunk = 64 << 10
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		v := NewVerifier(h)
		for off := 0; off < len(s); off += chunk {
			v.Write(s[off:min(off+chunk, len(s))])
		}
		if !v.Verdict().OK {
			b.Fatal("not verified")
		}
	}
}

// BenchmarkVerifierByte is the sink's cost per byte in the benchmark; it
// must stay far below loopback TCP's ~0.35 ns per byte... or at least not
// be the bottleneck (well under 1 ns/byte).
func BenchmarkVerifierByte(b *testing.B) {
	benchmarkVerifier(b, Header{Mode: Byte, Producers: 1024, Messages: 4000, Size: 1})
}

func BenchmarkVerifierFramed(b *testing.B) {
	benchmarkVerifier(b, Header{Mode: Framed, Producers: 64, Messages: 2000, Size: 64})
}
