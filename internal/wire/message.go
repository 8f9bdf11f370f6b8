package wire

import (
	"encoding/binary"
	"slices"
	"time"
)

// ByteValue is message seq's value in Byte mode: byte((seq+1) % 255), i.e.
// 1,2,...,254,0,1,... — the seed's `potato = (potato + 1) % 255`.
func ByteValue(seq int) byte { return byte((seq + 1) % 255) }

// AppendMessage appends message seq (0-based) of producer p: exactly h.Size
// bytes (VariedSize bytes in Varied mode). In Framed and Varied mode it reads the clock (time.Now().UnixNano()) for the
// send time. Every contestant uses this same function, so they all pay the
// same cost per message; it does not allocate when dst has the capacity.
func AppendMessage(dst []byte, h Header, producer, seq int) []byte {
	switch h.Mode {
	case Varied:
		return appendVaried(dst, h, producer, seq)
	case Framed:
	default:
		return append(dst, ByteValue(seq))
	}
	return appendFrame(dst, h.Size, producer, seq)
}

// appendFrame appends a framed message.
func appendFrame(dst []byte, size, producer, seq int) []byte {
	n := len(dst)
	dst = slices.Grow(dst, size)[:n+size]
	m := dst[n:]
	binary.LittleEndian.PutUint32(m[0:], uint32(producer))
	binary.LittleEndian.PutUint32(m[4:], uint32(seq))
	binary.LittleEndian.PutUint64(m[8:], uint64(time.Now().UnixNano()))
	fillPayload(m[FrameSize:], payloadBase(uint32(producer), uint32(seq)))
	return dst
}

// payloadBase seeds a message's payload from its producer and seq, so that a
// payload swapped between messages, or a corrupted producer or seq field,
// shows up as a payload mismatch (unless the payload is empty).
func payloadBase(producer, seq uint32) byte {
	return byte((seq*0x9E3779B1 + producer*0x85EBCA77) >> 24)
}

// fillPayload writes the payload pattern: byte i is base+i (mod 256).
func fillPayload(p []byte, base byte) {
	for i := range p {
		p[i] = base + byte(i)
	}
}
