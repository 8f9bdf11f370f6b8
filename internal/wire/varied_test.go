package wire

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

var variedHeaders = []Header{
	{Mode: Varied, Producers: 1, Messages: 1, Size: VariedMin},
	{Mode: Varied, Producers: 3, Messages: 50, Size: 200},
	{Mode: Varied, Producers: 1500, Messages: 3, Size: 64}, // more producers than the period
	{Mode: Varied, Producers: 2, Messages: 2*variedPeriod + 17, Size: 100},
}

// The closed form of TotalBytes matches the sum of every message's size,
// and the stream AppendMessage builds has exactly that length.
func TestVariedTotalBytes(t *testing.T) {
	for _, h := range variedHeaders {
		if err := h.Validate(); err != nil {
			t.Fatal(err)
		}
		var sum int64
		for p := range h.Producers {
			for s := range h.Messages {
				n := VariedSize(h, p, s)
				if n < VariedMin || n > h.Size {
					t.Fatalf("%+v: VariedSize(%d, %d) = %d, out of %d..%d", h, p, s, n, VariedMin, h.Size)
				}
				sum += int64(n)
			}
		}
		if got := h.TotalBytes(); got != sum {
			t.Errorf("%+v: TotalBytes = %d, the sizes add up to %d", h, got, sum)
		}
		if got := int64(len(stream(h))); got != sum {
			t.Errorf("%+v: the stream has %d bytes, want %d", h, got, sum)
		}
	}
	// Sizes really vary, over the whole range.
	h := Header{Mode: Varied, Producers: 1, Messages: 1000, Size: 300}
	lo, hi := h.Size, 0
	for s := range h.Messages {
		n := VariedSize(h, 0, s)
		lo, hi = min(lo, n), max(hi, n)
	}
	if lo > VariedMin+10 || hi < h.Size-10 {
		t.Errorf("sizes span %d..%d, want about %d..%d", lo, hi, VariedMin, h.Size)
	}
}

func TestVariedMessageLayout(t *testing.T) {
	h := Header{Mode: Varied, Producers: 9, Messages: 100, Size: 90}
	m := AppendMessage([]byte("x"), h, 7, 42)[1:]
	if len(m) != VariedSize(h, 7, 42) || int(binary.LittleEndian.Uint32(m)) != len(m) {
		t.Fatalf("message of %d bytes with length prefix %d, want %d", len(m), binary.LittleEndian.Uint32(m), VariedSize(h, 7, 42))
	}
	if p, s := binary.LittleEndian.Uint32(m[4:]), binary.LittleEndian.Uint32(m[8:]); p != 7 || s != 42 {
		t.Fatalf("producer %d seq %d, want 7 42", p, s)
	}
}

func TestVariedVerifies(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, h := range variedHeaders {
		s := stream(h)
		_, whole := verify(h, s)
		if !whole.OK || whole.ReceivedMessages != h.TotalMessages() || whole.ReceivedBytes != h.TotalBytes() {
			t.Fatalf("%+v: %+v", h, whole)
		}
		if _, split := verify(h, randomSplit(r, s)...); !reflect.DeepEqual(split, whole) {
			t.Fatalf("%+v: the verdict depends on the split:\n%+v\n%+v", h, split, whole)
		}
	}
	if err := (Header{Mode: Varied, Producers: 1, Messages: 1, Size: VariedMin - 1}).Validate(); err == nil {
		t.Error("a varied header with Size below VariedMin validates")
	}
	if m, err := ParseMode("varied"); err != nil || m != Varied || m.String() != "varied" {
		t.Errorf("ParseMode(varied) = %v, %v", m, err)
	}
	enc, err := variedHeaders[1].AppendBinary(nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ReadHeader(bytes.NewReader(enc)); err != nil || got != variedHeaders[1] {
		t.Fatalf("ReadHeader = %+v, %v", got, err)
	}
}

func TestVariedDetects(t *testing.T) {
	h := Header{Mode: Varied, Producers: 3, Messages: 20, Size: 120}
	good := stream(h)
	// offsets[i] is where message i starts.
	var offsets []int
	for off := 0; off < len(good); off += int(binary.LittleEndian.Uint32(good[off:])) {
		offsets = append(offsets, off)
	}
	msg := func(i int) []byte {
		return good[offsets[i] : offsets[i]+int(binary.LittleEndian.Uint32(good[offsets[i]:]))]
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name   string
		stream []byte
		want   string
	}{
		{"length prefix changed", func() []byte {
			b := bytes.Clone(good)
			binary.LittleEndian.PutUint32(b[offsets[5]:], binary.LittleEndian.Uint32(b[offsets[5]:])+1)
			return b
		}(), "message 5: length"},
		{"payload flipped", func() []byte {
			b := bytes.Clone(good)
			b[offsets[8]+VariedMin] ^= 0xff
			return b
		}(), "payload corrupted"},
		{"message dropped", cat(good[:offsets[4]], good[offsets[5]:]), "stream ended early"},
		{"message repeated", cat(good[:offsets[5]], msg(4), good[offsets[5]:]), "repeated"},
		{"cut mid-message", good[:offsets[9]+3], "stream ended early"},
	}
	for _, tt := range tests {
		_, vd := verify(h, tt.stream)
		if vd.OK || !strings.Contains(vd.Err().Error(), tt.want) {
			t.Errorf("%s: verdict %v, want it to name %q", tt.name, vd.Err(), tt.want)
		}
	}
}

// VerifySent checks an open-ended stream against what each producer says it
// sent, for streams that stop at any point.
func TestVerifySent(t *testing.T) {
	for _, mode := range []Mode{Varied, Framed} {
		h := Header{Mode: mode, Producers: 3, Messages: 1 << 30, Size: 64}
		sent := []int{5, 0, 12}
		var b []byte
		for seq := range 12 {
			for p, n := range sent {
				if seq < n {
					b = AppendMessage(b, h, p, seq)
				}
			}
		}
		v, _ := verify(h, b)
		if err := v.VerifySent(sent); err != nil {
			t.Fatalf("%v: %v", mode, err)
		}
		if err := v.VerifySent([]int{5, 0, 13}); err == nil || !strings.Contains(err.Error(), "producer 2") {
			t.Errorf("%v: a missing message: %v", mode, err)
		}
		v, _ = verify(h, b[:len(b)-1])
		if err := v.VerifySent(sent); err == nil || !strings.Contains(err.Error(), "inside message") {
			t.Errorf("%v: a stream cut mid-message: %v", mode, err)
		}
		b2 := bytes.Clone(b)
		b2[len(b2)-1] ^= 1
		v, _ = verify(h, b2)
		if err := v.VerifySent(sent); err == nil || !strings.Contains(err.Error(), "corrupted") {
			t.Errorf("%v: a corrupted message: %v", mode, err)
		}
	}
	v, _ := verify(Header{Mode: Byte, Producers: 1, Messages: 1, Size: 1}, []byte{1})
	if err := v.VerifySent([]int{1}); err == nil {
		t.Error("VerifySent accepted a byte-mode stream")
	}
}
