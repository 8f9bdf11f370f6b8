// Package wire defines what travels over a sink connection: a small binary
// header that announces the workload, then the message stream itself, and
// the Verifier that checks a received stream against its header.
//
// Announcing the workload up front is what lets the sink verify a run
// without trusting the sender: it knows exactly how many bytes to expect,
// which values, and in framed mode which (producer, seq) pairs.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
)

// Mode selects the message format of a stream.
type Mode uint8

const (
	// Byte is the seed's workload: 1-byte messages, each producer's values
	// cycle 1..254,0. Verifiable only by count and value histogram.
	Byte Mode = 1
	// Framed messages carry producer uint32 | seq uint32 | send time int64
	// (UnixNano) | payload, little endian, so exactly-once delivery,
	// per-producer order and latency can be verified.
	Framed Mode = 2
	// Varied messages have sizes that vary from message to message; see
	// VariedSize and AppendMessage (varied.go).
	Varied Mode = 3
)

// ParseMode accepts the names printed by Mode.String, for command-line flags.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "byte":
		return Byte, nil
	case "framed":
		return Framed, nil
	case "varied":
		return Varied, nil
	}
	return 0, fmt.Errorf("wire: unknown mode %q (want byte, framed or varied)", s)
}

// String returns the name ParseMode accepts, so modes round-trip through flags and logs.
func (m Mode) String() string {
	switch m {
	case Byte:
		return "byte"
	case Framed:
		return "framed"
	case Varied:
		return "varied"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// FrameSize is the fixed part of a framed message (producer, seq, send
// time); a framed message can therefore never be smaller.
const FrameSize = 16

// Limits enforced by Validate and ReadHeader. They exist so that a corrupt or
// hostile header cannot make the sink allocate or wait for absurd amounts.
const (
	MaxProducers         = 1 << 20 // per-producer state is kept in framed mode
	MaxMessages    int64 = 1 << 32 // seq is a uint32 on the wire
	MaxSize              = 1 << 20 // bytes per framed message
	MaxLabel             = 64      // bytes of Header.Label
	MaxTotalBytes  int64 = 1 << 62 // keeps TotalBytes far from int64 overflow
	headerVersion        = 1
	headerFixedLen       = 4 + 1 + 1 + 4 + 8 + 4 + 1 // magic, version, mode, producers, messages, size, label length
)

// magic starts every encoded header so that a sink fed by the wrong client
// (or an HTTP request) fails immediately with a clear error.
var magic = [4]byte{'F', 'N', 'I', 'N'}

// Header announces a workload. The sender writes it before the stream; the
// sink derives everything it verifies from it.
type Header struct {
	Mode      Mode
	Producers int    // >= 1
	Messages  int    // messages per producer, >= 1
	Size      int    // bytes per message: exactly 1 in Byte mode; FrameSize..MaxSize in Framed mode; the largest, VariedMin..MaxSize, in Varied mode
	Label     string // free text for logs (e.g. the strategy name), at most MaxLabel bytes
}

// Validate reports the first reason h cannot describe a stream, so that
// both ends refuse a bad workload before any byte is sent.
func (h Header) Validate() error {
	switch h.Mode {
	case Byte:
		if h.Size != 1 {
			return fmt.Errorf("wire: size %d in byte mode (must be 1)", h.Size)
		}
	case Framed:
		if h.Size < FrameSize || h.Size > MaxSize {
			return fmt.Errorf("wire: size %d in framed mode (must be %d..%d)", h.Size, FrameSize, MaxSize)
		}
	case Varied:
		if h.Size < VariedMin || h.Size > MaxSize {
			return fmt.Errorf("wire: size %d in varied mode (must be %d..%d)", h.Size, VariedMin, MaxSize)
		}
	default:
		return fmt.Errorf("wire: unknown mode %d", uint8(h.Mode))
	}
	if h.Producers < 1 || h.Producers > MaxProducers {
		return fmt.Errorf("wire: %d producers (must be 1..%d)", h.Producers, MaxProducers)
	}
	if h.Messages < 1 || int64(h.Messages) > MaxMessages {
		return fmt.Errorf("wire: %d messages per producer (must be 1..%d)", h.Messages, MaxMessages)
	}
	if len(h.Label) > MaxLabel {
		return fmt.Errorf("wire: label of %d bytes (at most %d)", len(h.Label), MaxLabel)
	}
	hi, lo := bits.Mul64(uint64(h.Producers), uint64(h.Messages))
	if hi == 0 {
		hi, lo = bits.Mul64(lo, uint64(h.Size))
	}
	if hi != 0 || lo > uint64(MaxTotalBytes) {
		return fmt.Errorf("wire: %d producers x %d messages x %d bytes is too large (at most %d bytes)",
			h.Producers, h.Messages, h.Size, MaxTotalBytes)
	}
	return nil
}

// TotalMessages is the number of messages the stream carries.
func (h Header) TotalMessages() int64 { return int64(h.Producers) * int64(h.Messages) }

// TotalBytes is the exact length of the stream (without the header).
func (h Header) TotalBytes() int64 {
	if h.Mode == Varied {
		return variedTotal(h)
	}
	return h.TotalMessages() * int64(h.Size)
}

// AppendBinary implements encoding.BinaryAppender. It refuses an invalid
// header so that a sender cannot announce a workload the sink will reject.
func (h Header) AppendBinary(b []byte) ([]byte, error) {
	if err := h.Validate(); err != nil {
		return b, err
	}
	b = append(b, magic[:]...)
	b = append(b, headerVersion, byte(h.Mode))
	b = binary.LittleEndian.AppendUint32(b, uint32(h.Producers))
	b = binary.LittleEndian.AppendUint64(b, uint64(h.Messages))
	b = binary.LittleEndian.AppendUint32(b, uint32(h.Size))
	b = append(b, byte(len(h.Label)))
	return append(b, h.Label...), nil
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (h Header) MarshalBinary() ([]byte, error) { return h.AppendBinary(nil) }

// ReadHeader reads exactly one encoded header from r (never more, so the
// stream that follows stays unread) and validates it. An empty r gives an
// error wrapping io.EOF; a short one, io.ErrUnexpectedEOF.
func ReadHeader(r io.Reader) (Header, error) {
	var fixed [headerFixedLen]byte
	// The magic first, alone: a stranger (say, an HTTP request shorter than
	// a header) is refused at once instead of waiting for more bytes.
	if _, err := io.ReadFull(r, fixed[:len(magic)]); err != nil {
		return Header{}, fmt.Errorf("wire: reading header: %w", err)
	}
	if [4]byte(fixed[:4]) != magic {
		return Header{}, fmt.Errorf("wire: bad magic %q (not a fanin stream)", fixed[:4])
	}
	if _, err := io.ReadFull(r, fixed[len(magic):]); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Header{}, fmt.Errorf("wire: reading header: %w", err)
	}
	if fixed[4] != headerVersion {
		return Header{}, fmt.Errorf("wire: unsupported header version %d (want %d)", fixed[4], headerVersion)
	}
	mode := Mode(fixed[5])
	if mode != Byte && mode != Framed && mode != Varied {
		return Header{}, fmt.Errorf("wire: unknown mode %d", fixed[5])
	}
	producers := binary.LittleEndian.Uint32(fixed[6:])
	messages := binary.LittleEndian.Uint64(fixed[10:])
	size := binary.LittleEndian.Uint32(fixed[18:])
	labelLen := int(fixed[22])
	// Range-check before converting to int so that 32-bit platforms cannot wrap.
	if producers > MaxProducers {
		return Header{}, fmt.Errorf("wire: %d producers (must be 1..%d)", producers, MaxProducers)
	}
	if messages > uint64(MaxMessages) {
		return Header{}, fmt.Errorf("wire: %d messages per producer (must be 1..%d)", messages, MaxMessages)
	}
	if size > MaxSize {
		return Header{}, fmt.Errorf("wire: size %d (at most %d)", size, MaxSize)
	}
	if labelLen > MaxLabel {
		return Header{}, fmt.Errorf("wire: label of %d bytes (at most %d)", labelLen, MaxLabel)
	}
	label := make([]byte, labelLen)
	if _, err := io.ReadFull(r, label); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Header{}, fmt.Errorf("wire: reading header label: %w", err)
	}
	h := Header{
		Mode:      mode,
		Producers: int(producers),
		Messages:  int(messages),
		Size:      int(size),
		Label:     string(label),
	}
	if err := h.Validate(); err != nil {
		return Header{}, err
	}
	return h, nil
}
