package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

func TestParseMode(t *testing.T) {
	for _, m := range []Mode{Byte, Framed} {
		got, err := ParseMode(m.String())
		if err != nil || got != m {
			t.Errorf("ParseMode(%q) = %v, %v; want %v", m.String(), got, err, m)
		}
	}
	if _, err := ParseMode("bytes"); err == nil || !strings.Contains(err.Error(), "byte, framed or varied") {
		t.Errorf("ParseMode(bytes) error = %v, want one listing the valid modes", err)
	}
	if s := Mode(7).String(); s != "mode(7)" {
		t.Errorf("Mode(7).String() = %q", s)
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	for _, h := range []Header{
		{Mode: Byte, Producers: 1, Messages: 1, Size: 1},
		{Mode: Byte, Producers: 8192, Messages: 1000, Size: 1, Label: "chan-serial"},
		{Mode: Framed, Producers: 3, Messages: 7, Size: FrameSize, Label: strings.Repeat("x", MaxLabel)},
		{Mode: Framed, Producers: MaxProducers, Messages: int(MaxMessages), Size: 1 << 10},
		{Mode: Framed, Producers: 1, Messages: 2, Size: MaxSize},
	} {
		b, err := h.AppendBinary([]byte("prefix"))
		if err != nil {
			t.Fatalf("AppendBinary(%+v): %v", h, err)
		}
		if !bytes.HasPrefix(b, []byte("prefix")) {
			t.Fatalf("AppendBinary dropped the prefix")
		}
		// Trailing stream bytes must stay unread.
		r := bytes.NewReader(append(b[len("prefix"):], "stream"...))
		got, err := ReadHeader(r)
		if err != nil {
			t.Fatalf("ReadHeader: %v", err)
		}
		if got != h {
			t.Errorf("round trip: got %+v, want %+v", got, h)
		}
		rest, _ := io.ReadAll(r)
		if string(rest) != "stream" {
			t.Errorf("ReadHeader consumed stream bytes: rest %q", rest)
		}
		m, err := h.MarshalBinary()
		if err != nil || !bytes.Equal(m, b[len("prefix"):]) {
			t.Errorf("MarshalBinary = %x, %v; want %x", m, err, b[len("prefix"):])
		}
	}
}

func TestHeaderTotals(t *testing.T) {
	h := Header{Mode: Framed, Producers: 3, Messages: 5, Size: 20}
	if h.TotalMessages() != 15 || h.TotalBytes() != 300 {
		t.Errorf("totals = %d, %d; want 15, 300", h.TotalMessages(), h.TotalBytes())
	}
}

func TestValidate(t *testing.T) {
	ok := Header{Mode: Framed, Producers: 2, Messages: 3, Size: 32}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid header: %v", err)
	}
	tests := []struct {
		name string
		edit func(*Header)
		want string
	}{
		{"unknown mode", func(h *Header) { h.Mode = 0 }, "unknown mode"},
		{"byte size", func(h *Header) { h.Mode = Byte; h.Size = 2 }, "byte mode"},
		{"framed too small", func(h *Header) { h.Size = FrameSize - 1 }, "framed mode"},
		{"framed too big", func(h *Header) { h.Size = MaxSize + 1 }, "framed mode"},
		{"no producers", func(h *Header) { h.Producers = 0 }, "producers"},
		{"too many producers", func(h *Header) { h.Producers = MaxProducers + 1 }, "producers"},
		{"no messages", func(h *Header) { h.Messages = 0 }, "messages"},
		{"too many messages", func(h *Header) { h.Messages = int(MaxMessages + 1) }, "messages"},
		{"label", func(h *Header) { h.Label = strings.Repeat("x", MaxLabel+1) }, "label"},
		{"total", func(h *Header) { h.Producers, h.Messages, h.Size = MaxProducers, int(MaxMessages), MaxSize }, "too large"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := ok
			tt.edit(&h)
			err := h.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.want)
			}
			if _, err := h.AppendBinary(nil); err == nil {
				t.Errorf("AppendBinary accepted an invalid header")
			}
		})
	}
}

// encodeRaw builds a header without validation, to feed ReadHeader bad input.
func encodeRaw(version byte, mode Mode, producers uint32, messages uint64, size uint32, label string) []byte {
	b := append([]byte(nil), magic[:]...)
	b = append(b, version, byte(mode))
	b = binary.LittleEndian.AppendUint32(b, producers)
	b = binary.LittleEndian.AppendUint64(b, messages)
	b = binary.LittleEndian.AppendUint32(b, size)
	b = append(b, byte(len(label)))
	return append(b, label...)
}

func TestReadHeaderErrors(t *testing.T) {
	good := encodeRaw(headerVersion, Framed, 2, 3, 16, "ab")
	if _, err := ReadHeader(bytes.NewReader(good)); err != nil {
		t.Fatalf("good header: %v", err)
	}
	badMagic := bytes.Clone(good)
	copy(badMagic, "GET ")
	longLabel := encodeRaw(headerVersion, Byte, 1, 1, 1, "")
	longLabel[len(longLabel)-1] = MaxLabel + 1
	tests := []struct {
		name  string
		in    []byte
		want  string
		isErr error
	}{
		{"empty", nil, "reading header", io.EOF},
		{"short magic", good[:2], "reading header", io.ErrUnexpectedEOF},
		{"short fixed part", good[:10], "reading header", io.ErrUnexpectedEOF},
		{"magic only", good[:4], "reading header", io.ErrUnexpectedEOF},
		{"short label", good[:len(good)-1], "label", io.ErrUnexpectedEOF},
		{"bad magic", badMagic, "bad magic", nil},
		{"version", encodeRaw(9, Byte, 1, 1, 1, ""), "version 9", nil},
		{"mode", encodeRaw(headerVersion, 9, 1, 1, 1, ""), "unknown mode 9", nil},
		{"zero producers", encodeRaw(headerVersion, Byte, 0, 1, 1, ""), "producers", nil},
		{"too many producers", encodeRaw(headerVersion, Byte, MaxProducers+1, 1, 1, ""), "producers", nil},
		{"huge producers", encodeRaw(headerVersion, Byte, 1<<32-1, 1, 1, ""), "producers", nil},
		{"zero messages", encodeRaw(headerVersion, Byte, 1, 0, 1, ""), "messages", nil},
		{"too many messages", encodeRaw(headerVersion, Byte, 1, 1<<32+1, 1, ""), "messages", nil},
		{"huge messages", encodeRaw(headerVersion, Byte, 1, 1<<63, 1, ""), "messages", nil},
		{"byte size", encodeRaw(headerVersion, Byte, 1, 1, 16, ""), "byte mode", nil},
		{"framed small", encodeRaw(headerVersion, Framed, 1, 1, 15, ""), "framed mode", nil},
		{"huge size", encodeRaw(headerVersion, Framed, 1, 1, MaxSize+1, ""), "size", nil},
		{"long label", longLabel, "label of 65 bytes", nil},
		{"too large", encodeRaw(headerVersion, Framed, MaxProducers, 1<<32, MaxSize, ""), "too large", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadHeader(bytes.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ReadHeader() = %v, want error containing %q", err, tt.want)
			}
			if tt.isErr != nil && !errors.Is(err, tt.isErr) {
				t.Errorf("ReadHeader() = %v, want it to wrap %v", err, tt.isErr)
			}
		})
	}
}

func TestByteValue(t *testing.T) {
	for seq, want := range map[int]byte{0: 1, 1: 2, 253: 254, 254: 0, 255: 1, 509: 0, 510: 1} {
		if got := ByteValue(seq); got != want {
			t.Errorf("ByteValue(%d) = %d, want %d", seq, got, want)
		}
	}
}

func TestAppendMessage(t *testing.T) {
	hb := Header{Mode: Byte, Producers: 1, Messages: 10, Size: 1}
	if got := AppendMessage([]byte{9}, hb, 0, 3); !bytes.Equal(got, []byte{9, 4}) {
		t.Errorf("byte mode: got %v", got)
	}
	hf := Header{Mode: Framed, Producers: 5, Messages: 10, Size: 40}
	before := time.Now().UnixNano()
	m := AppendMessage([]byte("xy"), hf, 4, 7)
	after := time.Now().UnixNano()
	if len(m) != 2+40 || string(m[:2]) != "xy" {
		t.Fatalf("framed: len %d, prefix %q", len(m), m[:2])
	}
	m = m[2:]
	if p, s := binary.LittleEndian.Uint32(m), binary.LittleEndian.Uint32(m[4:]); p != 4 || s != 7 {
		t.Errorf("framed: producer %d seq %d, want 4 7", p, s)
	}
	if ts := int64(binary.LittleEndian.Uint64(m[8:])); ts < before || ts > after {
		t.Errorf("framed: send time %d not within [%d, %d]", ts, before, after)
	}
	// Payloads differ between messages, so a swapped payload is detectable.
	other := AppendMessage(nil, hf, 4, 8)
	if bytes.Equal(m[FrameSize:], other[FrameSize:]) {
		t.Errorf("messages 7 and 8 have the same payload")
	}
}

func TestAppendMessageNoAlloc(t *testing.T) {
	for _, h := range []Header{
		{Mode: Byte, Producers: 1, Messages: 10, Size: 1},
		{Mode: Framed, Producers: 1, Messages: 10, Size: 64},
	} {
		buf := make([]byte, 0, 64*100)
		allocs := testing.AllocsPerRun(100, func() {
			buf = buf[:0]
			for seq := range 100 {
				buf = AppendMessage(buf, h, 0, seq)
			}
		})
		if allocs != 0 {
			t.Errorf("%v mode: %v allocations per run, want 0", h.Mode, allocs)
		}
	}
}
